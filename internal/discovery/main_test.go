package discovery

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/direkt/direkt/internal/testwatch"
)

func TestMain(m *testing.M) {
	testwatch.Arm()
	goleak.VerifyTestMain(m)
}
