package browsertest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestBrowserRunsScript(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><title>t</title><body><script>document.body.dataset.state = "ok"</script></body>`))
	}))
	defer srv.Close()
	ctx := New(t, Options{})
	if _, err := chromedp.Run(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	res, err := chromedp.Run(ctx, chromedp.AttributeValue("body", "data-state"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Value != "ok" {
		t.Fatalf("data-state = %q, want ok", res.Value)
	}
}
