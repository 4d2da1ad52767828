package netbed

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// Ping sends count ICMP echo requests (RFC 792) from namespace ns to dst, one
// every interval, and returns the round-trip time of each, in order; a
// request without a reply by the time the last one has had a second to come
// back has a negative entry. It needs no ping binary: the raw socket is
// opened in ns and read here.
func Ping(ctx context.Context, ns string, dst netip.Addr, count int, interval time.Duration) ([]time.Duration, error) {
	var c *icmp.PacketConn
	if err := Do(ns, func() (err error) {
		c, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		return nil, fmt.Errorf("netbed: ping from %s: %w", ns, err)
	}
	defer c.Close()
	id := rand.IntN(1 << 16)
	sent := make([]time.Time, count)
	rtts := make([]time.Duration, count)
	for i := range rtts {
		rtts[i] = -1
	}
	var mu sync.Mutex // guards sent
	sendErr := make(chan error, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sendErr <- sendEchoes(c, dst, id, count, interval, stop, func(seq int, t time.Time) {
			mu.Lock()
			sent[seq] = t
			mu.Unlock()
		})
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()
	deadline := time.Now().Add(time.Duration(count)*interval + time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	buf := make([]byte, 1500)
	for got := 0; got < count; {
		n, peer, err := c.ReadFrom(buf)
		now := time.Now()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			return rtts, fmt.Errorf("netbed: ping: %w", err)
		}
		if ip, ok := peer.(*net.IPAddr); !ok || !ip.IP.Equal(dst.AsSlice()) {
			continue
		}
		m, err := icmp.ParseMessage(1, buf[:n]) // 1: ICMP for IPv4
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		if !ok || echo.ID != id || echo.Seq < 0 || echo.Seq >= count {
			continue
		}
		mu.Lock()
		at := sent[echo.Seq]
		mu.Unlock()
		if at.IsZero() || rtts[echo.Seq] >= 0 {
			continue
		}
		rtts[echo.Seq] = now.Sub(at)
		got++
	}
	select {
	case err := <-sendErr:
		if err != nil {
			return rtts, err
		}
	default:
	}
	return rtts, ctx.Err()
}

// sendEchoes sends count echo requests, one every interval, until stop.
func sendEchoes(c *icmp.PacketConn, dst netip.Addr, id, count int, interval time.Duration, stop <-chan struct{}, mark func(int, time.Time)) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for seq := range count {
		if seq > 0 {
			select {
			case <-tick.C:
			case <-stop:
				return nil
			}
		}
		m := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("netbed")}}
		b, err := m.Marshal(nil)
		if err != nil {
			return err
		}
		mark(seq, time.Now())
		if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return fmt.Errorf("netbed: ping: %w", err)
		}
	}
	return nil
}
