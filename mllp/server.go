package mllp

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// Publisher is the part of a Kafka producer the gateway uses (kafka-go's
// *Writer, configured without a Topic: each message names its topic).
//
// Contract: WriteMessages returns nil only when every message is acknowledged
// by the broker (RequiredAcks = all). The gateway answers AA only after that;
// any error is answered AE and the sender retries.
type Publisher interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

var _ Publisher = (*kafka.Writer)(nil)

// ErrServerClosed is returned by Serve and ListenAndServe after Close.
var ErrServerClosed = errors.New("mllp: server closed")

// Defaults of Config.
const (
	DefaultAddr           = ":2575" // the IANA port for HL7 over MLLP
	DefaultReadTimeout    = 2 * time.Minute
	DefaultWriteTimeout   = 10 * time.Second
	DefaultPublishTimeout = 30 * time.Second
	DefaultMaxConns       = 256
)

// Config configures a Server. Call Defaults, then Validate.
type Config struct {
	// Addr is the listen address of ListenAndServe (host:port).
	Addr string `yaml:"addr"`
	// Source names the system whose senders connect to this listener (lis,
	// ehr); messages go to topic hub.in.<Source>, so it decides what the hub
	// lets them write. One listener per source system.
	Source string `yaml:"source"`
	// MaxFrame is the largest message accepted, in bytes (DefaultMaxFrame).
	// Larger frames are answered AR and discarded without being buffered.
	// Kafka's own message size limit (message.max.bytes) must allow it.
	MaxFrame int `yaml:"max_frame"`
	// ReadTimeout bounds the wait for a frame and its whole transfer: an idle
	// connection, or one trickling a frame, is closed after it.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds the write of one ACK.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// PublishTimeout bounds the wait for Kafka's acknowledgement of one
	// message; when it passes the message is answered AE.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// MaxConns is the most concurrent connections; more are closed at once.
	MaxConns int `yaml:"max_conns"`
	// DedupSize is the number of acknowledged messages remembered to detect
	// retransmissions (DefaultDedupSize); negative disables the cache.
	DedupSize int `yaml:"dedup_size"`
	// TLS, when set, makes Serve and ListenAndServe speak MLLP over TLS
	// (set ClientAuth to require client certificates).
	TLS *tls.Config `yaml:"-"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.DedupSize == 0 {
		c.DedupSize = DefaultDedupSize
	}
}

// sourceName is what a source may be: it becomes part of a Kafka topic name.
var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// maxMaxFrame caps MaxFrame: beyond it a misconfiguration, not a message.
const maxMaxFrame = 64 << 20

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	switch {
	case !sourceName.MatchString(c.Source):
		return fmt.Errorf("mllp: source %q must be 1-63 lower-case letters, digits, '-' or '_'", c.Source)
	case c.MaxFrame <= 0 || c.MaxFrame > maxMaxFrame:
		return fmt.Errorf("mllp: max_frame %d must be in 1..%d", c.MaxFrame, maxMaxFrame)
	case c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.PublishTimeout <= 0:
		return errors.New("mllp: read_timeout, write_timeout and publish_timeout must be positive")
	case c.MaxConns <= 0:
		return fmt.Errorf("mllp: max_conns %d must be positive", c.MaxConns)
	}
	return nil
}

// Topic returns the Kafka topic of the source: hub.in.<Source>.
func (c *Config) Topic() string { return topicPrefix + c.Source }

// topicPrefix is ingest.TopicPrefix (not imported: ingest pulls in the whole
// pipeline, which the gateway does not need).
const topicPrefix = "hub.in."

// Deps are a Server's collaborators.
type Deps struct {
	// Publisher receives every accepted message. Required.
	Publisher Publisher
	// Logger receives connection and message events (never message content).
	// Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Observer receives connection, message and framing events (metrics).
	// Default: none.
	Observer Observer
}

// Server is an MLLP listener that publishes each HL7 v2 message it receives
// to Kafka and answers an HL7 ACK once Kafka has acknowledged it.
//
// Each connection is served by one goroutine that reads frames one at a time
// and answers each before reading the next, so a sender's order is kept: its
// messages go to one partition (see the Key of published messages) in the
// order they were sent. A panic while serving a connection is logged and
// closes that connection only.
type Server struct {
	cfg   Config
	pub   Publisher
	log   *slog.Logger
	now   func() time.Time
	obs   Observer
	dedup *dedup

	ackPrefix string        // random, distinguishes this process's ACK ids
	ackSeq    atomic.Uint64 // ACK control id counter
	active    chan struct{} // one token per open connection (MaxConns)

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*serverConn]struct{}
	wg        sync.WaitGroup // connection goroutines
}

// New returns a Server. cfg gets its defaults and is validated.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Publisher == nil {
		return nil, errors.New("mllp: a Publisher is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Observer == nil {
		deps.Observer = noObserver{}
	}
	return &Server{
		cfg:       cfg,
		pub:       deps.Publisher,
		log:       deps.Logger.With("component", "mllp", "source", cfg.Source),
		now:       deps.Now,
		obs:       deps.Observer,
		dedup:     newDedup(cfg.DedupSize),
		ackPrefix: randomPrefix(),
		active:    make(chan struct{}, cfg.MaxConns),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*serverConn]struct{}),
	}, nil
}

// randomPrefix returns 6 characters of base-32 randomness.
func randomPrefix() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// ListenAndServe listens on cfg.Addr (TLS when cfg.TLS is set) and serves
// until ctx is done or Close is called.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("mllp: listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx is done or Close is called, then
// closes ln and every connection and waits for their goroutines. When
// cfg.TLS is set, ln is wrapped in TLS. It returns ErrServerClosed after Close
// or ctx.Err() when ctx ended; it always closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()

	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	s.log.Info("mllp listening", "addr", ln.Addr().String(), "topic", s.cfg.Topic())

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				s.Close()
				return fmt.Errorf("mllp: accept: %w", err)
			}
			// Too many open files and the like: wait and retry, as
			// net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("mllp accept failed; retrying", "error", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		select {
		case s.active <- struct{}{}:
		default:
			s.log.Warn("mllp connection refused: max_conns reached", "peer", nc.RemoteAddr().String(), "max_conns", s.cfg.MaxConns)
			s.obs.MLLPConnection(s.cfg.Source, ConnRefused)
			nc.Close()
			continue
		}
		c := &serverConn{Conn: nc}
		if !s.track(c) {
			<-s.active
			nc.Close()
			continue
		}
		go s.serveConn(ctx, c)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers a connection; false when the server is closing.
func (s *Server) track(c *serverConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *serverConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	<-s.active
	s.wg.Done()
}

// Close stops accepting, lets each connection finish the message it is
// handling (its publish is bounded by PublishTimeout, its ACK by
// WriteTimeout), closes every connection and waits for them. A frame only
// partly received is dropped unanswered; its sender resends it. Close may be
// called more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for ln := range s.listeners {
			ln.Close()
		}
		for c := range s.conns {
			c.stop()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// serverConn is a connection whose reads can be stopped by Close without
// racing with the per-frame deadline its Reader sets.
type serverConn struct {
	net.Conn
	mu       sync.Mutex
	stopping bool
}

// pastDeadline makes blocked and future reads fail at once.
var pastDeadline = time.Unix(1, 0)

// SetReadDeadline sets t, or a past deadline once the server is closing.
func (c *serverConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		t = pastDeadline
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *serverConn) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopping = true
	_ = c.Conn.SetReadDeadline(pastDeadline)
}

func (c *serverConn) isStopping() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopping
}

// serveConn reads frames and answers them until the peer leaves, a read
// fails (timeout, hostile framing) or the server closes.
func (s *Server) serveConn(ctx context.Context, c *serverConn) {
	peer := c.RemoteAddr().String()
	log := s.log.With("peer", peer)
	r := NewReader(c, s.cfg.MaxFrame)
	r.Timeout = s.cfg.ReadTimeout
	frames := 0
	defer func() {
		if p := recover(); p != nil {
			// The panic value may be derived from message content: log its
			// type only.
			log.Error("mllp connection panicked; closing it", "panic_type", fmt.Sprintf("%T", p))
		}
		if n := r.Skipped(); n > 0 {
			log.Warn("mllp bytes outside frames skipped", "bytes", n)
		}
		c.Close()
		s.untrack(c)
		s.obs.MLLPConnection(s.cfg.Source, ConnClosed)
		log.Debug("mllp connection closed", "frames", frames)
	}()
	s.obs.MLLPConnection(s.cfg.Source, ConnOpened)
	log.Debug("mllp connection opened")
	for {
		frame, err := r.ReadFrame()
		// Real time, as the deadlines: the injected clock is for ACK
		// contents.
		start := time.Now()
		var ack []byte
		switch {
		case err == nil:
			ack = s.handle(ctx, frame, peer)
		case errors.Is(err, ErrFrameTooLarge):
			log.Warn("mllp frame too large; rejected", "max_frame", s.cfg.MaxFrame)
			s.obs.MLLPFrameError(s.cfg.Source, FrameTooLarge)
			ack = s.reject(headerOfFrame(frame), &ackError{code: errCodeDataType, text: "frame exceeds the size limit (" + hl7ReasonTooLarge + ")"})
		default:
			s.logReadEnd(log, c, err)
			return
		}
		frames++
		// Deadlines are real time, not the injected clock.
		if err := c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err != nil {
			return
		}
		if err := WriteFrame(c, ack); err != nil {
			log.Warn("mllp ACK write failed; closing", "error", err)
			return
		}
		s.obs.MLLPMessage(s.cfg.Source, ackCode(ack), time.Since(start))
	}
}

// logReadEnd logs why a connection stops reading, at a level that matches.
func (s *Server) logReadEnd(log *slog.Logger, c *serverConn, err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		log.Debug("mllp peer closed the connection")
	case c.isStopping():
		log.Debug("mllp connection closed by shutdown")
	case errors.As(err, &ne) && ne.Timeout():
		log.Info("mllp connection closed: read timeout", "read_timeout", s.cfg.ReadTimeout)
		s.obs.MLLPFrameError(s.cfg.Source, FrameTimeout)
	case errors.Is(err, ErrNoStartBlock):
		log.Warn("mllp connection closed: peer does not speak MLLP")
		s.obs.MLLPFrameError(s.cfg.Source, FrameNoStartBlock)
	default:
		log.Info("mllp connection closed", "error", err)
		s.obs.MLLPFrameError(s.cfg.Source, FrameBroken)
	}
}
