package vault

import "time"

// SetRefreshEvery sets how often a 403 may trigger re-authentication
// (10s in production), so tests need not wait.
func SetRefreshEvery(m *Manager, d time.Duration) {
	m.authMu.Lock()
	defer m.authMu.Unlock()
	m.refreshEvery = d
}

// Token returns the token the manager currently uses.
func Token(m *Manager) string { return m.client.Token() }
