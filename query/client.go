package query

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Post sends a GraphQL request to url with a bearer token and returns the
// decoded response (for hubctl, the demo and scripts).
func Post(ctx context.Context, url, token, query string, vars map[string]any) (map[string]any, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("graphql response (HTTP %d): %w", resp.StatusCode, err)
	}
	return out, nil
}
