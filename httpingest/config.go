package httpingest

import (
	"fmt"
	"time"
)

// Defaults of Config.
const (
	DefaultMaxBody        = 8 << 20 // fhir.DefaultMaxBytes
	DefaultPublishTimeout = 30 * time.Second
	DefaultRetryAfter     = 5 * time.Second
)

// maxMaxBody caps MaxBody: beyond it a misconfiguration, not a message.
const maxMaxBody = 64 << 20

// Config configures a Handler. New applies Defaults and Validate.
type Config struct {
	// MaxBody is the largest request body accepted, in bytes
	// (DefaultMaxBody); larger bodies are answered 413 without being
	// buffered. FHIR messages are also bounded by fhir.DefaultMaxBytes and
	// DICOM by dicom.DefaultMaxBytes, the limits the hub's consumer applies.
	// The Kafka writer's BatchBytes and the broker's message.max.bytes must
	// allow it.
	MaxBody int64 `yaml:"max_body"`
	// PublishTimeout bounds the wait for Kafka's acknowledgement of one
	// message; when it passes the request is answered 503.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// RetryAfter is the Retry-After of a 503 (rounded up to whole seconds).
	RetryAfter time.Duration `yaml:"retry_after"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.MaxBody == 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	switch {
	case c.MaxBody <= 0 || c.MaxBody > maxMaxBody:
		return fmt.Errorf("httpingest: max_body %d must be in 1..%d", c.MaxBody, maxMaxBody)
	case c.PublishTimeout <= 0:
		return fmt.Errorf("httpingest: publish_timeout %s must be positive", c.PublishTimeout)
	case c.RetryAfter <= 0:
		return fmt.Errorf("httpingest: retry_after %s must be positive", c.RetryAfter)
	}
	return nil
}
