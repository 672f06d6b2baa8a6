package vault_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/keys/vault"
	"github.com/carecrest/hub/keys/vault/transittest"
)

func tlsConfig(t *testing.T, srv *transittest.Server) vault.Config {
	cfg := doubleConfig(srv)
	cfg.TLS.CACert = writeFile(t, "vault-ca.pem", string(srv.CACert()))
	return cfg
}

func roundTrip(t *testing.T, cfg vault.Config) {
	t.Helper()
	m := newManager(t, cfg)
	ctx := context.Background()
	_, w, err := m.GenerateDataKey(ctx, ownerA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.UnwrapDataKey(ctx, ownerA, w); err != nil {
		t.Fatal(err)
	}
}

func TestTLS(t *testing.T) {
	srv := transittest.New(t, transittest.WithTLS())

	t.Run("CA file", func(t *testing.T) { roundTrip(t, tlsConfig(t, srv)) })
	t.Run("server name", func(t *testing.T) {
		cfg := tlsConfig(t, srv)
		cfg.TLS.ServerName = "example.com" // in the certificate, not the address
		roundTrip(t, cfg)
	})
	t.Run("insecure", func(t *testing.T) {
		cfg := doubleConfig(srv)
		cfg.TLS.Insecure = true
		roundTrip(t, cfg)
	})
	for name, mutate := range map[string]func(*vault.Config){
		"no CA":             func(c *vault.Config) { c.TLS.CACert = "" },
		"wrong server name": func(c *vault.Config) { c.TLS.ServerName = "vault.elsewhere.example" },
		"plain http":        func(c *vault.Config) { c.Address = "http" + c.Address[len("https"):] },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := tlsConfig(t, srv)
			mutate(&cfg)
			_, err := vault.New(context.Background(), cfg, nil)
			if !errors.Is(err, keys.ErrUnavailable) {
				t.Fatalf("err = %v, want keys.ErrUnavailable", err)
			}
		})
	}
	t.Run("missing CA file", func(t *testing.T) {
		cfg := tlsConfig(t, srv)
		cfg.TLS.CACert = filepath.Join(t.TempDir(), "absent.pem")
		if _, err := vault.New(context.Background(), cfg, nil); err == nil {
			t.Fatal("New accepted a missing CA file")
		}
	})
}

func TestMutualTLS(t *testing.T) {
	caPEM, certPEM, keyPEM := clientPKI(t)
	srv := transittest.New(t, transittest.WithClientCA(caPEM))
	cfg := tlsConfig(t, srv)
	cfg.TLS.ClientCert = writeFile(t, "client.pem", string(certPEM))
	cfg.TLS.ClientKey = writeFile(t, "client-key.pem", string(keyPEM))
	roundTrip(t, cfg)

	cfg.TLS.ClientCert, cfg.TLS.ClientKey = "", ""
	if _, err := vault.New(context.Background(), cfg, nil); !errors.Is(err, keys.ErrUnavailable) {
		t.Fatalf("without a client certificate: err = %v, want keys.ErrUnavailable", err)
	}
}

// clientPKI makes a CA and a client certificate it signed, in PEM.
func clientPKI(t *testing.T) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "carecrest test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "carecrest-hub"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}
