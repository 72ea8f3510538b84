package proxy

import "sync"

// bufferPool hands ReverseProxy copy buffers of one size from a
// sync.Pool, instead of a fresh 32 KiB allocation per response.
type bufferPool struct {
	size int
	pool sync.Pool
}

func newBufferPool(size int) *bufferPool {
	bp := &bufferPool{size: size}
	bp.pool.New = func() any {
		b := make([]byte, size)
		return &b
	}
	return bp
}

// Get implements httputil.BufferPool.
func (bp *bufferPool) Get() []byte { return *(bp.pool.Get().(*[]byte)) }

// Put implements httputil.BufferPool. Buffers of another size are dropped.
func (bp *bufferPool) Put(b []byte) {
	if cap(b) != bp.size {
		return
	}
	b = b[:bp.size]
	bp.pool.Put(&b)
}
