package harness

import (
	"fmt"
	"io"
	"net"
	"sync"
)

// echoServer is a loopback TCP server that writes back what it reads; kwok
// forwards every pod port to it.
type echoServer struct {
	l     net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startEcho() (*echoServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("echo server: %w", err)
	}
	e := &echoServer{l: l, conns: map[net.Conn]struct{}{}}
	e.wg.Add(1)
	go e.serve()
	return e, nil
}

func (e *echoServer) port() int { return e.l.Addr().(*net.TCPAddr).Port }

func (e *echoServer) serve() {
	defer e.wg.Done()
	for {
		conn, err := e.l.Accept()
		if err != nil {
			return // closed
		}
		e.mu.Lock()
		if e.conns == nil { // closing
			e.mu.Unlock()
			_ = conn.Close()
			return
		}
		e.conns[conn] = struct{}{}
		e.wg.Add(1)
		e.mu.Unlock()
		go func() {
			defer e.wg.Done()
			_, _ = io.Copy(conn, conn)
			_ = conn.Close()
			e.mu.Lock()
			delete(e.conns, conn)
			e.mu.Unlock()
		}()
	}
}

// close stops accepting, closes open connections and waits for their
// goroutines.
func (e *echoServer) close() {
	_ = e.l.Close()
	e.mu.Lock()
	for conn := range e.conns {
		_ = conn.Close()
	}
	e.conns = nil
	e.mu.Unlock()
	e.wg.Wait()
}
