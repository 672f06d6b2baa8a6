package kafkaconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	fsasl "github.com/twmb/franz-go/pkg/sasl"
	fscram "github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASLMechanism returns the kafka-go SASL mechanism of s, or nil when
// s.Mechanism is empty. With a password file, the file is read now (so a
// missing or empty file fails at startup) and again at every handshake (so
// a rotated password applies to new connections).
//
// SCRAM is franz-go's client (github.com/twmb/franz-go/pkg/sasl/scram, in
// the module graph already through the embedded broker) adapted to
// kafka-go's interface: kafka-go's own sasl/scram needs modules
// (github.com/xdg-go/scram and its dependencies) that go.mod does not list,
// and its errors can quote the password when SASLprep rejects it.
func SASLMechanism(s SASLConfig) (sasl.Mechanism, error) {
	mech := strings.ToUpper(strings.TrimSpace(s.Mechanism))
	if mech == MechanismNone {
		return nil, nil
	}
	if s.Username == "" {
		return nil, fmt.Errorf("kafkaconn: sasl.username is required with mechanism %s", mech)
	}
	password := func() (string, error) { return s.Password, nil }
	if s.PasswordFile != "" {
		file := s.PasswordFile
		password = func() (string, error) { return readPassword(file) }
	}
	if p, err := password(); err != nil {
		return nil, err
	} else if p == "" {
		return nil, errors.New("kafkaconn: sasl: empty password")
	}
	switch mech {
	case MechanismPlain:
		return plainMechanism{user: s.Username, password: password}, nil
	case MechanismSCRAMSHA256, MechanismSCRAMSHA512:
		auth := func(context.Context) (fscram.Auth, error) {
			p, err := password()
			return fscram.Auth{User: s.Username, Pass: p}, err
		}
		m := fscram.Sha256(auth)
		if mech == MechanismSCRAMSHA512 {
			m = fscram.Sha512(auth)
		}
		return scramMechanism{m: m}, nil
	default:
		return nil, fmt.Errorf("kafkaconn: sasl.mechanism %q unknown; valid: \"\" (none), %s", s.Mechanism, strings.Join(Mechanisms[1:], ", "))
	}
}

// readPassword reads a password file, without its trailing newline.
func readPassword(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		// The *PathError names the file and the failure, nothing read from it.
		return "", fmt.Errorf("kafkaconn: sasl.password_file: %w", err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", fmt.Errorf("kafkaconn: sasl.password_file %s is empty", file)
	}
	return p, nil
}

// plainMechanism is SASL PLAIN with the password read at each handshake.
type plainMechanism struct {
	user     string
	password func() (string, error)
}

func (plainMechanism) Name() string { return MechanismPlain }

func (m plainMechanism) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	p, err := m.password()
	if err != nil {
		return nil, nil, err
	}
	return plain.Mechanism{Username: m.user, Password: p}.Start(ctx)
}

// String never shows the password.
func (m plainMechanism) String() string { return "PLAIN(" + m.user + ")" }

// scramMechanism adapts a franz-go SASL mechanism to kafka-go's. The two
// interfaces match step for step: Authenticate is Start, Challenge is Next.
type scramMechanism struct{ m fsasl.Mechanism }

func (s scramMechanism) Name() string { return s.m.Name() }

func (s scramMechanism) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	host := ""
	if md := sasl.MetadataFromContext(ctx); md != nil {
		host = net.JoinHostPort(md.Host, strconv.Itoa(md.Port))
	}
	sess, first, err := s.m.Authenticate(ctx, host)
	if err != nil {
		return nil, nil, s.wrap(err)
	}
	return scramSession{s: sess, wrap: s.wrap}, first, nil
}

// String never shows the password.
func (s scramMechanism) String() string { return s.m.Name() }

// wrap names the mechanism in an error. A signature mismatch is reported
// without the signatures, which are derived from the password.
func (s scramMechanism) wrap(err error) error {
	if strings.Contains(err.Error(), "signature") {
		return fmt.Errorf("kafkaconn: %s: server signature mismatch (is this the right broker?)", s.m.Name())
	}
	return fmt.Errorf("kafkaconn: %s: %w", s.m.Name(), err)
}

type scramSession struct {
	s    fsasl.Session
	wrap func(error) error
}

func (s scramSession) Next(_ context.Context, challenge []byte) (bool, []byte, error) {
	done, resp, err := s.s.Challenge(challenge)
	if err != nil {
		return false, nil, s.wrap(err)
	}
	return done, resp, nil
}
