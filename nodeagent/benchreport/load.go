package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// loadServer accepts and closes connections on addr until stopped.
type loadServer struct {
	ln   net.Listener
	wg   sync.WaitGroup
	addr *net.TCPAddr
}

func newLoadServer(ip string) (*loadServer, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) })
		return serr
	}}
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp4", ip+":0")
	if err != nil {
		return nil, err
	}
	s := &loadServer{ln: ln, addr: ln.Addr().(*net.TCPAddr)}
	for range 2 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}
		}()
	}
	return s, nil
}

func (s *loadServer) Close() { s.ln.Close(); s.wg.Wait() }

// dialOnce connects with raw syscalls and closes with an RST (linger 0), so
// no TIME_WAIT piles up and ports are reused.
func dialOnce(sa *unix.SockaddrInet4) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, sa); err != nil {
		return err
	}
	// The server may have reset the connection already; then there is
	// nothing left to linger.
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	return nil
}

// generate opens connections to s at rate per second (0: as fast as
// possible) for d, with workers goroutines, and returns how many it made.
func generate(s *loadServer, rate int, d time.Duration, workers int) (int64, time.Duration, error) {
	sa := &unix.SockaddrInet4{Port: s.addr.Port}
	copy(sa.Addr[:], s.addr.IP.To4())
	var done atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := int64(0)
			for time.Now().Before(end) {
				if rate > 0 {
					// Pace: this worker's share of the rate.
					due := start.Add(time.Duration(float64(n*int64(workers)+int64(w)) / float64(rate) * float64(time.Second)))
					if wait := time.Until(due); wait > 0 {
						time.Sleep(wait)
					}
				}
				if err := dialOnce(sa); err != nil {
					// A reset during connect() is the loopback stack
					// under this load (a reused port meeting the old
					// connection's reset), not a broken run: the kernel
					// counted its events like any other.
					if !errors.Is(err, unix.ECONNRESET) {
						firstErr.CompareAndSwap(nil, err)
					}
					continue
				}
				n++
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return done.Load(), time.Since(start), fmt.Errorf("connecting: %w", err)
	}
	return done.Load(), time.Since(start), nil
}
