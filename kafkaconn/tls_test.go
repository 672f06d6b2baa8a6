package kafkaconn

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// handshake runs a TLS handshake between client and a server over
// loopback TCP and returns the client's error, including a rejection the
// server sends after the client is done (TLS 1.3 verifies client
// certificates last).
func handshake(t *testing.T, client, server *tls.Config) error {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s, err := l.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		s.SetDeadline(time.Now().Add(10 * time.Second))
		if s.(*tls.Conn).Handshake() == nil {
			s.Write([]byte{1}) // accepted
		}
	}()
	c, err := net.DialTimeout("tcp", l.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	conn := tls.Client(c, client)
	err = conn.Handshake()
	if err == nil {
		_, err = conn.Read(make([]byte, 1))
	}
	c.Close()
	<-done
	return err
}

func TestTLSClientConfig(t *testing.T) {
	p := newPKI(t)

	tc, err := TLSClientConfig(TLSConfig{Enabled: true, CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile, ServerName: "kafka-1"})
	if err != nil {
		t.Fatal(err)
	}
	if tc.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x, want TLS 1.2", tc.MinVersion)
	}
	if tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.ServerName != "kafka-1" || tc.InsecureSkipVerify {
		t.Fatalf("config %+v", tc)
	}
	if err := handshake(t, tc, p.serverTLS(true)); err != nil {
		t.Errorf("mutual TLS handshake: %v", err)
	}

	// Without a client certificate, a broker requiring one refuses.
	noCert, _ := TLSClientConfig(TLSConfig{Enabled: true, CAFile: p.caFile, ServerName: "kafka-1"})
	if err := handshake(t, noCert, p.serverTLS(true)); err == nil {
		t.Error("handshake without client certificate succeeded against a broker requiring one")
	}
	if err := handshake(t, noCert, p.serverTLS(false)); err != nil {
		t.Errorf("server-only TLS: %v", err)
	}

	// The broker's name is checked.
	wrongName, _ := TLSClientConfig(TLSConfig{Enabled: true, CAFile: p.caFile, ServerName: "kafka-2"})
	if err := handshake(t, wrongName, p.serverTLS(false)); err == nil {
		t.Error("handshake with the wrong server name succeeded")
	}

	// System roots do not know the test CA.
	sysRoots, _ := TLSClientConfig(TLSConfig{Enabled: true, ServerName: "kafka-1"})
	if err := handshake(t, sysRoots, p.serverTLS(false)); err == nil {
		t.Error("handshake against an unknown CA succeeded")
	}

	// TLS 1.1 and older are refused.
	old := p.serverTLS(false)
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if err := handshake(t, tc, old); err == nil {
		t.Error("handshake with a TLS 1.1 broker succeeded")
	}
}

func TestTLSDisabled(t *testing.T) {
	tc, err := TLSClientConfig(TLSConfig{})
	if tc != nil || err != nil {
		t.Errorf("disabled TLS: %v, %v", tc, err)
	}
}

func TestTLSFileErrors(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("just some text\n"), 0o600)
	for name, c := range map[string]struct {
		cfg  TLSConfig
		want string
	}{
		"missing CA":         {TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "nope.pem")}, "tls.ca_file"},
		"CA not PEM":         {TLSConfig{Enabled: true, CAFile: notPEM}, "no PEM certificate"},
		"key not PEM":        {TLSConfig{Enabled: true, CertFile: p.certFile, KeyFile: notPEM}, "tls.key_file"},
		"cert without key":   {TLSConfig{Enabled: true, CertFile: p.certFile}, "go together"},
		"key for other cert": {TLSConfig{Enabled: true, CertFile: p.certFile, KeyFile: writePEM(t, dir, "k.pem", "PRIVATE KEY", pkcs8(t, newKey(t)))}, "tls.cert_file"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := TLSClientConfig(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "BEGIN") {
				t.Errorf("error quotes file contents: %v", err)
			}
		})
	}
}
