package session

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// epochFile is a counter in a small file beside the SQLite database that
// every process sharing the database maps into memory. A process bumps it
// after each committed write, so a server can tell with one memory load
// per request whether another process (the admin CLI) changed anything,
// and read the change log before answering instead of at the next poll.
type epochFile struct {
	f   *os.File
	mem []byte
}

const epochSize = 4096 // one page; only the first 8 bytes are used

func openEpoch(path string) (*epochFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("epoch file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoch file: %w", err)
	}
	if st.Size() < epochSize {
		// Growing with Truncate fills with zeros and never shrinks a file
		// another process already grew.
		if err := f.Truncate(epochSize); err != nil {
			f.Close()
			return nil, fmt.Errorf("epoch file: %w", err)
		}
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, epochSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("map epoch file: %w", err)
	}
	return &epochFile{f: f, mem: mem}, nil
}

func (e *epochFile) counter() *uint64 { return (*uint64)(unsafe.Pointer(&e.mem[0])) }

func (e *epochFile) load() uint64 { return atomic.LoadUint64(e.counter()) }

func (e *epochFile) bump() { atomic.AddUint64(e.counter(), 1) }

func (e *epochFile) close() error {
	err := syscall.Munmap(e.mem)
	if cerr := e.f.Close(); err == nil {
		err = cerr
	}
	return err
}
