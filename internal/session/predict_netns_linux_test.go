package session

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/netbed"
)

// Port prediction for easy↔hard (issue 4, section 4), the experiment behind
// the README's answer. A hard NAT ("masquerade random") gives every new
// destination a random public port, so the easy side cannot know where to
// send. The birthday approach: the hard side opens N sockets and sends one
// TTL-limited packet from each to the easy side's public address, which
// opens N random mappings on its NAT without reaching the easy NAT (where an
// unanswered packet would start the conntrack race); the easy side then
// sends probes to random ports of the hard side's public address. A probe
// that hits one of the N mappings reaches its socket, which answers, and
// both NATs are open: with R possible ports the chance after M probes is
// 1-(1-N/R)^M.
//
// This is plain UDP sockets, not ICE: pion's agent gathers one socket per
// interface and cannot be handed hundreds of sockets or probe targets, so
// wiring it into direkt would mean an ICE agent of our own. The benchmark
// measures whether it would pay:
//
//	go test -run '^$' -bench BirthdayPunch -benchtime 10x ./internal/session/

const (
	birthdaySockets = 256 // N, on the hard side
	birthdayProbes  = 2048
	birthdayRate    = 2 // probes per millisecond
)

// BenchmarkBirthdayPunch reports how often the easy side hit one of the
// hard side's mappings within birthdayProbes probes and after how many
// probes and milliseconds.
func BenchmarkBirthdayPunch(b *testing.B) {
	if err := netbed.Available(); err != nil {
		b.Skipf("no test bed here: %v", err)
	}
	for _, delay := range []time.Duration{0, 10 * time.Millisecond} {
		b.Run("rtt="+(4*delay).String(), func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			bed, err := netbed.New(ctx, netbed.Config{Prefix: bedPrefix, A: netbed.Easy, B: netbed.Hard, Delay: delay})
			if err != nil {
				b.Fatal(err)
			}
			defer bed.Close()
			refl := startReflector(b, bed.Server)
			var hits, runs, probes int
			var ms float64
			for b.Loop() {
				r := birthdayRun(b, bed, refl)
				runs++
				if r.hit {
					hits++
					probes += r.probes
					ms += r.ms
				}
			}
			b.ReportMetric(100*float64(hits)/float64(runs), "%hit")
			if hits > 0 {
				b.ReportMetric(float64(probes)/float64(hits), "probes/hit")
				b.ReportMetric(ms/float64(hits), "ms/hit")
			}
		})
	}
}

// startReflector runs a UDP socket on the server that answers every packet
// with its source address: how a peer learns its public address and port.
func startReflector(t testing.TB, ns string) netip.AddrPort {
	t.Helper()
	var c *net.UDPConn
	if err := netbed.Do(ns, func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IP(netbed.ServerAddr.AsSlice()), Port: 3479})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 64)
		for {
			_, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDPAddrPort([]byte(from.String()), from)
		}
	}()
	t.Cleanup(func() { _ = c.Close(); wg.Wait() })
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

type birthdayResult struct {
	hit    bool
	probes int
	ms     float64
}

func birthdayRun(t testing.TB, bed *netbed.Bed, refl netip.AddrPort) birthdayResult {
	t.Helper()
	listen := func(ns string) *net.UDPConn {
		var c *net.UDPConn
		if err := netbed.Do(ns, func() (err error) {
			c, err = net.ListenUDP("udp4", nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	easy := listen(bed.A.Host)
	defer easy.Close()
	// The easy side learns its public address from the reflector.
	if _, err := easy.WriteToUDPAddrPort([]byte("?"), refl); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = easy.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := easy.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	easyPub, err := netip.ParseAddrPort(string(buf[:n]))
	if err != nil {
		t.Fatal(err)
	}

	// The hard side opens its mappings toward it with packets that die
	// after leaving its NAT (TTL 2: host → router → internet).
	hard := make([]*net.UDPConn, birthdaySockets)
	for i := range hard {
		hard[i] = listen(bed.B.Host)
		defer hard[i].Close()
		pc := &punchConn{conn: hard[i], v4: true}
		if err := writeTTL(pc, punchMarker, easyPub, 2); err != nil {
			t.Fatal(err)
		}
	}
	// Every hard socket answers the first probe it gets.
	start := time.Now()
	hit := make(chan struct{}, 1)
	deadline := time.Now().Add(time.Duration(birthdayProbes/birthdayRate)*time.Millisecond + 2*time.Second)
	var wg sync.WaitGroup
	for _, c := range hard {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(deadline)
			b := make([]byte, 64)
			if _, from, err := c.ReadFromUDPAddrPort(b); err == nil {
				_, _ = c.WriteToUDPAddrPort([]byte("ack"), from)
			}
		}()
	}
	// The easy side hears the answer.
	var sent int
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = easy.SetReadDeadline(deadline)
		b := make([]byte, 64)
		for {
			n, _, err := easy.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			if string(b[:n]) == "ack" {
				hit <- struct{}{}
				return
			}
		}
	}()
	var res birthdayResult
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var rnd [2]byte
probing:
	for sent < birthdayProbes {
		select {
		case <-hit:
			res = birthdayResult{hit: true, ms: float64(time.Since(start).Microseconds()) / 1000}
			break probing
		case <-tick.C:
		}
		for range birthdayRate {
			_, _ = rand.Read(rnd[:])
			port := 1024 + binary.BigEndian.Uint16(rnd[:])%(65536-1024)
			if _, err := easy.WriteToUDPAddrPort([]byte("probe"), netip.AddrPortFrom(bed.B.PublicAddr, port)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			sent++
		}
	}
	if !res.hit {
		select {
		case <-hit:
			res = birthdayResult{hit: true, ms: float64(time.Since(start).Microseconds()) / 1000}
		case <-time.After(time.Until(deadline)):
		}
	}
	res.probes = sent
	// End the readers now rather than at the deadline.
	past := time.Now()
	_ = easy.SetReadDeadline(past)
	for _, c := range hard {
		_ = c.SetReadDeadline(past)
	}
	wg.Wait()
	return res
}
