package lambdalocal

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// process is one run of the bootstrap binary with its own Runtime API
// server. Each process gets its own listener so that a request still in
// flight from a killed process can never take an event meant for its
// successor.
type process struct {
	cmd     *exec.Cmd
	srv     *http.Server
	started time.Time
	logs    *logPipe

	pending chan *invocation    // taken by GET /next
	initErr chan *FunctionError // from POST /init/error
	ready   chan struct{}       // closed at the first GET /next
	exited  chan struct{}       // closed when the process has been reaped
	exitErr error               // cmd.Wait's result, valid after exited

	readyOnce    sync.Once
	readyAt      time.Time
	initReported bool // guarded by Instance.sem

	mu     sync.Mutex
	active *invocation // the event handed out and not yet answered
}

// startProcess starts the Runtime API server and then the binary.
func startProcess(f Function) (*process, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the Runtime API for %s: listening on loopback: %w", f.Name, err)
	}
	logs, w, err := newLogPipe(f.LogOutput)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("starting %s: creating the log pipe: %w", f.Name, err)
	}
	p := &process{
		pending: make(chan *invocation),
		initErr: make(chan *FunctionError, 1),
		ready:   make(chan struct{}),
		exited:  make(chan struct{}),
		logs:    logs,
	}
	p.srv = &http.Server{Handler: p.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()

	cmd := exec.Command(f.Binary)
	cmd.Dir = filepath.Dir(f.Binary)
	cmd.Env = f.environment(ln.Addr().String())
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = w, w
	// Its own process group, so a kill reaches anything it spawned and
	// nothing else.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.started = time.Now()
	err = cmd.Start()
	w.Close() // the child holds its copy; EOF comes when it exits
	if err != nil {
		p.srv.Close()
		logs.close()
		return nil, fmt.Errorf("starting %s (%s): %w", f.Name, f.Binary, err)
	}
	p.cmd = cmd
	go func() {
		p.exitErr = cmd.Wait()
		close(p.exited)
		p.srv.Close()
	}()
	go logs.pump(p.exited)
	return p, nil
}

// markReady records the end of the init phase (the first GET /next).
func (p *process) markReady() {
	p.readyOnce.Do(func() {
		p.readyAt = time.Now()
		close(p.ready)
	})
}

// initDuration is process start to first GET /next, or to now if the init
// never finished.
func (p *process) initDuration() time.Duration {
	select {
	case <-p.ready:
		return p.readyAt.Sub(p.started)
	default:
		return time.Since(p.started)
	}
}

func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// stop signals the process group and waits until the process is reaped:
// with grace 0 it sends SIGKILL at once, otherwise SIGTERM and SIGKILL
// after grace.
func (p *process) stop(grace time.Duration) {
	pgid := p.cmd.Process.Pid
	if grace > 0 {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(grace):
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.exited
	p.logs.drain()
}

// logPipe collects the child's stdout and stderr (one pipe, so the two stay
// in order, as in one CloudWatch log stream) into lines. The read end is
// non-blocking and read by whoever asks, so an invoke can collect every byte
// the child wrote before it posted its answer: those bytes are already in
// the kernel's pipe buffer by then.
type logPipe struct {
	mu      sync.Mutex
	fd      int
	closed  bool
	partial []byte
	lines   []string
	tee     io.Writer // optional live copy of each line
}

func newLogPipe(tee io.Writer) (*logPipe, *os.File, error) {
	var fds [2]int
	syscall.ForkLock.RLock()
	err := syscall.Pipe(fds[:])
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, err
	}
	if err := syscall.SetNonblock(fds[0], true); err != nil {
		syscall.Close(fds[0])
		syscall.Close(fds[1])
		return nil, nil, err
	}
	return &logPipe{fd: fds[0], tee: tee}, os.NewFile(uintptr(fds[1]), "bootstrap-output"), nil
}

// pump drains the pipe periodically so a chatty child never blocks on a
// full pipe, and closes it once the process has exited and all is read.
func (l *logPipe) pump(exited <-chan struct{}) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.drain()
		case <-exited:
			// Writers may linger a moment (a grandchild holding the pipe);
			// read until EOF or give up after a second.
			for range 200 {
				if l.drain() {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			l.close()
			return
		}
	}
}

// drain reads everything available now and reports whether EOF was seen.
func (l *logPipe) drain() (eof bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return true
	}
	buf := make([]byte, 32*1024)
	for {
		n, err := syscall.Read(l.fd, buf)
		if n > 0 {
			l.consume(buf[:n])
			continue
		}
		switch err {
		case nil: // n == 0: every writer is gone
			l.flush()
			return true
		case syscall.EINTR:
			continue
		default: // EAGAIN: nothing more for now
			return false
		}
	}
}

func (l *logPipe) consume(b []byte) {
	for len(b) > 0 {
		nl := -1
		for i, c := range b {
			if c == '\n' {
				nl = i
				break
			}
		}
		if nl < 0 {
			l.partial = append(l.partial, b...)
			return
		}
		l.partial = append(l.partial, b[:nl]...)
		l.flush()
		b = b[nl+1:]
	}
}

// flush turns the partial line into a line.
func (l *logPipe) flush() {
	if len(l.partial) == 0 {
		return
	}
	line := string(l.partial)
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	l.partial = l.partial[:0]
	l.lines = append(l.lines, line)
	if l.tee != nil {
		_, _ = l.tee.Write([]byte(line + "\n"))
	}
}

// take drains the pipe and returns the lines collected since the last take,
// including an unterminated last line.
func (l *logPipe) take() []string {
	l.drain()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flush()
	out := l.lines
	l.lines = nil
	return out
}

func (l *logPipe) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.flush()
		syscall.Close(l.fd)
		l.closed = true
	}
}
