package netbed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A Link forwards every Ethernet frame between two interfaces of one network
// namespace after a fixed delay, in both directions: a wire with latency,
// and with a [Limit] a bottleneck of a given rate with a bounded queue. It
// reads each interface with an AF_PACKET socket and writes the frame to the
// other one once its time has come. Frames leave in the order they arrived
// (the delay is the same for all, so a FIFO queue per direction is enough);
// when a queue is full the reader stops reading and the frames wait in the
// socket's receive buffer, so nothing is dropped that the kernel does not
// count ([LinkStats].KernelDrops).
//
// The sockets use PACKET_VNET_HDR: each frame comes with the kernel's
// virtio-net header (segmentation offload, checksum still to be filled in)
// and goes out with it, so a 64 KB TCP super-segment or a UDP datagram
// whose checksum the sender left to "hardware" crosses the wire as it would
// cross a veth.
type Link struct {
	delay time.Duration
	limit Limit
	names [2]string
	files [2]*os.File
	stop  chan struct{}
	wg    sync.WaitGroup
	stats [2]dirStats
	once  sync.Once
}

// LinkStats counts what a Link did, per direction: index 0 is from the
// first interface to the second, index 1 back.
type LinkStats struct {
	// Frames and Bytes forwarded (bytes of Ethernet frames, headers included).
	Frames, Bytes [2]uint64
	// MaxQueue is the most frames that waited at once.
	MaxQueue [2]int64
	// KernelDrops are frames the kernel dropped because the reading socket's
	// buffer was full (PACKET_STATISTICS).
	KernelDrops [2]uint64
	// WriteErrors are frames the kernel refused to send.
	WriteErrors [2]uint64
	// MaxLate is the longest a frame left after its time (arrival plus the
	// delay): how far the forwarder fell behind under load.
	MaxLate [2]time.Duration
	// Dropped are frames the Limit's full queue dropped, and MaxBacklog
	// the most bytes that a frame it let in found waiting.
	Dropped    [2]uint64
	MaxBacklog [2]int64
}

type dirStats struct {
	frames, bytes, writeErrors, kernelDrops, dropped atomic.Uint64
	maxQueue, maxLate, maxBacklog                    atomic.Int64
}

// A Limit makes a link a bottleneck, the same in each direction: frames
// leave it one after another at Rate, as from a router's interface to a
// slower line, and wait in a queue before it; a frame that finds more than
// Queue bytes waiting is dropped, as a router's full buffer drops it (tail
// drop). The link's delay comes on top, after the bottleneck. This is a
// token bucket of one frame's depth: the line never bursts above its rate.
type Limit struct {
	// Rate is in bits per second of Ethernet frames (headers included);
	// zero means no limit.
	Rate int64
	// Queue is how many bytes may wait; zero means DefaultQueue.
	Queue int
}

// DefaultQueue is the bytes that 100 ms at rate take, and at least two
// full-size frames: a modest router buffer (many are bigger, and their
// delay under load with them).
func DefaultQueue(rate int64) int {
	return max(int(rate/8/10), 2*1514)
}

func (l Limit) queue() int {
	if l.Queue > 0 {
		return l.Queue
	}
	return DefaultQueue(l.Rate)
}

// bottleneck is one direction's Limit state, owned by its reader.
type bottleneck struct {
	Limit
	free time.Time // when the line has sent what waits
}

// pass returns when a frame of n bytes that arrived at at leaves the
// bottleneck, and the bytes that wait before it; ok is false when the queue
// is full and the frame is dropped.
func (b *bottleneck) pass(at time.Time, n int) (leave time.Time, backlog int64, ok bool) {
	start := at
	if b.free.After(at) {
		start = b.free
		backlog = int64(b.free.Sub(at)) * b.Rate / 8 / int64(time.Second)
		if backlog > int64(b.queue()) {
			return time.Time{}, backlog, false
		}
	}
	b.free = start.Add(time.Duration(int64(n) * 8 * int64(time.Second) / b.Rate))
	return b.free, backlog, true
}

// vnetHdrLen is the size of struct virtio_net_hdr, which PACKET_VNET_HDR puts
// before every frame.
const vnetHdrLen = 10

// queueLen bounds the frames in flight per direction: at 100 MB/s and 50 ms
// that is about 4,000 full-size frames.
const queueLen = 16384

// readBuf holds the largest frame a veth passes up with GSO (64 KiB of
// payload plus headers), with room to spare.
const readBuf = 256 << 10

// socketBuf is the receive and send buffer of each packet socket.
const socketBuf = 16 << 20

type frame struct {
	at time.Time
	b  []byte
}

// NewLink starts a delay forwarder between interfaces ifA and ifB of network
// namespace ns. Both should be up and have no addresses; the namespace should
// not forward IP itself. Close stops it.
func NewLink(ns, ifA, ifB string, delay time.Duration) (*Link, error) {
	return NewLimitedLink(ns, ifA, ifB, delay, Limit{})
}

// NewLimitedLink is NewLink with a bottleneck of limit in each direction.
func NewLimitedLink(ns, ifA, ifB string, delay time.Duration, limit Limit) (*Link, error) {
	if limit.Rate < 0 || limit.Queue < 0 {
		return nil, fmt.Errorf("netbed: negative limit %+v", limit)
	}
	l := &Link{delay: delay, limit: limit, names: [2]string{ifA, ifB}, stop: make(chan struct{})}
	err := Do(ns, func() error {
		for i, name := range l.names {
			f, err := openPacket(name)
			if err != nil {
				return err
			}
			l.files[i] = f
		}
		return nil
	})
	if err != nil {
		for _, f := range l.files {
			if f != nil {
				f.Close()
			}
		}
		return nil, err
	}
	for i := range 2 {
		q := make(chan frame, queueLen)
		l.wg.Add(2)
		go l.read(i, q)
		go l.write(i, q)
	}
	return l, nil
}

// openPacket opens a non-blocking AF_PACKET socket bound to interface name of
// the calling thread's namespace, wrapped in an os.File so that the runtime
// poller waits for it and Close wakes its readers.
func openPacket(name string) (*os.File, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("netbed: %w", err)
	}
	// Protocol 0 receives nothing until bind names ETH_P_ALL, so no frame of
	// another interface slips in before the bind.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("netbed: packet socket: %w", err)
	}
	opts := []struct {
		level, opt, val int
		what            string
	}{
		{unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1, "PACKET_VNET_HDR"},
		// Our own writes to this interface are not read back.
		{unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING"},
		{unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBuf, "SO_RCVBUFFORCE"},
		{unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, socketBuf, "SO_SNDBUFFORCE"},
		// Each frame's delay counts from when the kernel received it, not
		// from when the reader got round to it.
		{unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS"},
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.val); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("netbed: %s on %s: %w", o.what, name, err)
		}
	}
	// Frames addressed to the far end's MAC are ours to forward.
	mreq := &unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mreq); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netbed: promiscuous %s: %w", name, err)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netbed: bind packet socket to %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "packet:"+name), nil
}

// arrival reads the kernel's receive time (SCM_TIMESTAMPNS) from a
// message's control data; without one it is now.
func arrival(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Now()
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_TIMESTAMPNS {
			continue
		}
		switch len(m.Data) { // struct timespec: two longs
		case 16:
			return time.Unix(int64(binary.NativeEndian.Uint64(m.Data)), int64(binary.NativeEndian.Uint64(m.Data[8:])))
		case 8:
			return time.Unix(int64(int32(binary.NativeEndian.Uint32(m.Data))), int64(int32(binary.NativeEndian.Uint32(m.Data[4:]))))
		}
	}
	return time.Now()
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// read takes frames from interface i and queues them for the other one.
func (l *Link) read(i int, q chan<- frame) {
	defer l.wg.Done()
	defer close(q)
	rc, err := l.files[i].SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, readBuf)
	oob := make([]byte, 128)
	st := &l.stats[i]
	bn := &bottleneck{Limit: l.limit}
	for {
		var n, oobn int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return // closed
		}
		if rerr != nil {
			if rerr == unix.EINTR {
				continue
			}
			// ENETDOWN and the like: the interface went away with its
			// namespace.
			return
		}
		if n <= vnetHdrLen {
			continue
		}
		at := arrival(oob[:oobn])
		if bn.Rate > 0 {
			leave, backlog, ok := bn.pass(at, n-vnetHdrLen)
			if !ok {
				st.dropped.Add(1)
				continue
			}
			if backlog > st.maxBacklog.Load() {
				st.maxBacklog.Store(backlog)
			}
			at = leave // the delay counts from when it left the bottleneck
		}
		f := frame{at: at, b: append([]byte(nil), buf[:n]...)}
		select {
		case q <- f:
		case <-l.stop:
			return
		}
		if d := int64(len(q)); d > st.maxQueue.Load() {
			st.maxQueue.Store(d)
		}
	}
}

// write sends the frames of q on the interface other than i, each at its
// arrival time plus the delay.
func (l *Link) write(i int, q <-chan frame) {
	defer l.wg.Done()
	rc, err := l.files[1-i].SyscallConn()
	if err != nil {
		return
	}
	st := &l.stats[i]
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var f frame
		var ok bool
		select {
		case f, ok = <-q:
			if !ok {
				return
			}
		case <-l.stop:
			return
		}
		if wait := time.Until(f.at.Add(l.delay)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-l.stop:
				return
			}
		}
		if late := int64(time.Since(f.at.Add(l.delay))); late > st.maxLate.Load() {
			st.maxLate.Store(late)
		}
		var werr error
		err := rc.Write(func(fd uintptr) bool {
			_, werr = unix.Write(int(fd), f.b)
			return werr != unix.EAGAIN
		})
		if err != nil {
			return // closed
		}
		if werr != nil {
			st.writeErrors.Add(1)
			continue
		}
		st.frames.Add(1)
		st.bytes.Add(uint64(len(f.b) - vnetHdrLen))
	}
}

// Stats returns what the link did so far.
func (l *Link) Stats() LinkStats {
	var s LinkStats
	for i := range 2 {
		st := &l.stats[i]
		l.pollDrops(i)
		s.Frames[i] = st.frames.Load()
		s.Bytes[i] = st.bytes.Load()
		s.MaxQueue[i] = st.maxQueue.Load()
		s.KernelDrops[i] = st.kernelDrops.Load()
		s.WriteErrors[i] = st.writeErrors.Load()
		s.MaxLate[i] = time.Duration(st.maxLate.Load())
		s.Dropped[i] = st.dropped.Load()
		s.MaxBacklog[i] = st.maxBacklog.Load()
	}
	return s
}

// pollDrops adds the kernel's drop count of reading socket i since the last
// poll (reading PACKET_STATISTICS resets it).
func (l *Link) pollDrops(i int) {
	rc, err := l.files[i].SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		if ts, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			l.stats[i].kernelDrops.Add(uint64(ts.Drops))
		}
	})
}

// Close stops the forwarder and waits for its goroutines. Frames still
// queued are dropped. It runs once; later calls return nil.
func (l *Link) Close() error {
	var errs []error
	l.once.Do(func() {
		for i := range 2 {
			l.pollDrops(i)
		}
		close(l.stop)
		for _, f := range l.files {
			if err := f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
				errs = append(errs, err)
			}
		}
		l.wg.Wait()
	})
	return errors.Join(errs...)
}
