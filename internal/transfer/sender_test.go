package transfer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestCorruptionInTransit(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	first := randBytes(20, 2*maxData)
	writeFile(t, filepath.Join(src, "1.bin"), first, 0o644)
	writeFile(t, filepath.Join(src, "2.bin"), []byte("second"), 0o644)
	// maxData+500 lies inside the second data frame of 1.bin.
	o := run(t, tcpPair, []string{filepath.Join(src, "1.bin"), filepath.Join(src, "2.bin")}, out, transferOpts{
		wrapSend: func(c net.Conn) io.ReadWriteCloser { return &flipConn{Conn: c, at: maxData + 500} },
	})
	if !errors.Is(o.serr, ErrHashMismatch) || !errors.Is(o.rerr, ErrHashMismatch) {
		t.Fatalf("send %v, receive %v; want ErrHashMismatch on both", o.serr, o.rerr)
	}
	for _, res := range []Result{o.sres, o.rres} {
		if len(res.Files) != 1 || res.Files[0].Name != "2.bin" {
			t.Errorf("result lists %+v, want only 2.bin", res.Files)
		}
	}
	if got := listDir(t, out); !slices.Equal(got, []string{"2.bin"}) {
		t.Errorf("download folder holds %q; the damaged file must be gone", got)
	}
}

func TestSourceChangesWhileSending(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(name string) error
	}{
		{"grows", func(name string) error {
			f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write([]byte("more"))
			return err
		}},
		{"shrinks", func(name string) error { return os.Truncate(name, 8*maxData) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, out := t.TempDir(), t.TempDir()
			name := filepath.Join(src, "log.txt")
			writeFile(t, name, randBytes(21, 16*maxData), 0o644)
			var changeErr error
			// net.Pipe does not buffer: the sender is at most a few chunks
			// ahead of the receiver when the file changes.
			o := run(t, pipePair, []string{name}, out, transferOpts{
				wrapRecv: func(c net.Conn) io.ReadWriteCloser {
					return &hookConn{Conn: c, limit: maxData, fn: func() { changeErr = tc.change(name) }}
				},
			})
			if changeErr != nil {
				t.Fatal(changeErr)
			}
			if !errors.Is(o.serr, ErrSourceChanged) {
				t.Errorf("send: %v, want ErrSourceChanged", o.serr)
			}
			if !errors.Is(o.rerr, ErrPeerAborted) {
				t.Errorf("receive: %v, want ErrPeerAborted", o.rerr)
			}
			if _, err := os.Stat(filepath.Join(out, "log.txt")); !os.IsNotExist(err) {
				t.Errorf("file got its final name: %v", err)
			}
		})
	}
}

// rawReceiver answers a real Send with hand-made frames.
func rawReceive(t *testing.T, answer func(c net.Conn, manifest []byte)) (Result, error) {
	t.Helper()
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "f"), []byte("0123456789"), 0o644)
	a, b := net.Pipe()
	type res struct {
		r   Result
		err error
	}
	done := make(chan res, 1)
	go func() {
		r, err := Send(testCtx(t), a, []string{filepath.Join(src, "f")}, SendOptions{})
		done <- res{r, err}
	}()
	var hdr [headerLen]byte
	typ, m, err := readFrameAlloc(b, hdr[:])
	if err != nil || typ != frameManifest {
		t.Fatalf("first frame %#x, %v", typ, err)
	}
	answer(b, m)
	// Read whatever else the sender says; close on its abort, as a real
	// receiver does.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			typ, _, err := readFrameAlloc(b, hdr[:])
			if err != nil || typ == frameAbort {
				b.Close()
				return
			}
		}
	}()
	r := <-done
	b.Close()
	<-drained
	return r.r, r.err
}

func send(c net.Conn, typ byte, p []byte) { _, _ = c.Write(appendFrame(nil, typ, p)) }

func TestHostileReceiver(t *testing.T) {
	verdict := func(idx uint32, status byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, idx), status)
	}
	// readUntilEnd reads the sender's frames up to the end of file 0.
	readUntilEnd := func(c net.Conn) {
		var hdr [headerLen]byte
		for {
			typ, _, err := readFrameAlloc(c, hdr[:])
			if err != nil || typ == frameEnd {
				return
			}
		}
	}
	cases := []struct {
		name   string
		answer func(c net.Conn, m []byte)
		want   []error
	}{
		{"offer past the end", func(c net.Conn, _ []byte) {
			send(c, frameAccept, appendAccept(nil, []offer{{index: 0, offset: 11}}))
		}, []error{ErrProtocol}},
		{"offer for a missing file", func(c net.Conn, _ []byte) {
			send(c, frameAccept, appendAccept(nil, []offer{{index: 1, offset: 1}}))
		}, []error{ErrProtocol}},
		{"data frame instead of an answer", func(c net.Conn, _ []byte) {
			send(c, frameData, []byte("x"))
		}, []error{ErrProtocol}},
		{"oversized answer", func(c net.Conn, _ []byte) {
			var h [headerLen]byte
			putHeader(h[:], frameAccept, maxAnswer+1)
			_, _ = c.Write(h[:])
		}, []error{ErrProtocol}},
		{"reject", func(c net.Conn, _ []byte) {
			send(c, frameReject, []byte("no \x1b[1mthanks"))
		}, []error{ErrRejected}},
		{"disk full", func(c net.Conn, _ []byte) {
			send(c, frameAccept, appendAccept(nil, nil))
			send(c, frameAbort, appendAbort(nil, abortDiskFull, "full"))
		}, []error{ErrPeerAborted, ErrDiskFull}},
		{"verdict for another file", func(c net.Conn, _ []byte) {
			send(c, frameAccept, appendAccept(nil, nil))
			readUntilEnd(c)
			send(c, frameVerdict, verdict(3, verdictStored))
		}, []error{ErrProtocol}},
		{"unknown verdict", func(c net.Conn, _ []byte) {
			send(c, frameAccept, appendAccept(nil, nil))
			readUntilEnd(c)
			send(c, frameVerdict, verdict(0, 9))
		}, []error{ErrProtocol}},
		{"ack without verdicts", func(c net.Conn, _ []byte) {
			send(c, frameAccept, appendAccept(nil, nil))
			readUntilEnd(c)
			send(c, frameAck, nil)
		}, []error{ErrProtocol}},
		{"gone after the answer", func(c net.Conn, _ []byte) {
			send(c, frameAccept, appendAccept(nil, nil))
			c.Close()
		}, []error{ErrPeerGone}},
		{"gone before the answer", func(c net.Conn, _ []byte) { c.Close() }, []error{ErrPeerGone}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := rawReceive(t, tc.answer)
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("Send: %v, want %v", err, w)
				}
			}
			if err != nil && bytes.ContainsRune([]byte(err.Error()), 0x1b) {
				t.Errorf("error carries an escape character: %q", err)
			}
			if len(res.Files) != 0 {
				t.Errorf("result lists %+v", res.Files)
			}
		})
	}
}

func TestHonestRawReceiverAck(t *testing.T) {
	// The smallest conforming receiver, to pin the sender's side of the
	// sequence: accept, verdict per end, ack after done.
	res, err := rawReceive(t, func(c net.Conn, _ []byte) {
		send(c, frameAccept, appendAccept(nil, nil))
		var hdr [headerLen]byte
		for {
			typ, p, err := readFrameAlloc(c, hdr[:])
			if err != nil {
				return
			}
			switch typ {
			case frameEnd:
				if !bytes.Equal(p, sha([]byte("0123456789"))) {
					send(c, frameVerdict, []byte{0, 0, 0, 0, verdictMismatch})
					continue
				}
				send(c, frameVerdict, []byte{0, 0, 0, 0, verdictStored})
			case frameDone:
				send(c, frameAck, nil)
				return
			}
		}
	})
	if err != nil || len(res.Files) != 1 || !bytes.Equal(res.Files[0].SHA256, sha([]byte("0123456789"))) {
		t.Errorf("Send: %+v, %v", res, err)
	}
}
