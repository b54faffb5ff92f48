package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

const (
	// tokenEarly is how long before its expiry a token is replaced (at
	// most half its lifetime).
	tokenEarly = 10 * time.Second
	// tokenDefaultTTL is assumed when the token response has no expires_in.
	tokenDefaultTTL = time.Hour
)

// tokenCache holds the access token of one scope. Sherweb's sample mints one
// token per API (scope "distributor" or "service-provider"). The cache is our
// own rather than oauth2.ReuseTokenSource so that a 401 can invalidate it.
type tokenCache struct {
	c     *Client
	scope string
	cc    *clientcredentials.Config
	root  context.Context // the run's root ctx, carrying the token HTTP client

	sem       chan struct{} // held while reading or minting: single flight
	token     string
	refreshAt time.Time
}

func newTokenCache(root context.Context, c *Client, scope string, hc *http.Client) *tokenCache {
	return &tokenCache{
		c:     c,
		scope: scope,
		cc: &clientcredentials.Config{
			ClientID:     c.cfg.ClientID,
			ClientSecret: c.cfg.ClientSecret,
			TokenURL:     c.base + pathToken,
			Scopes:       []string{scope},
			AuthStyle:    oauth2.AuthStyleInParams, // the yaml lists client_id/client_secret as form fields
		},
		root: context.WithValue(root, oauth2.HTTPClient, hc),
		sem:  make(chan struct{}, 1),
	}
}

// get returns a valid access token, minting one if needed. Concurrent
// callers wait for a single mint. Waiting stops when ctx is done.
func (t *tokenCache) get(ctx context.Context) (string, error) {
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-t.sem }()
	if t.token != "" && t.c.now().Before(t.refreshAt) {
		return t.token, nil
	}
	t.token = ""
	tok, ttl, err := t.mint(ctx)
	if err != nil {
		return "", err
	}
	// Refresh 10 s early; for very short-lived tokens, at half their life
	// (a 10 s token would otherwise be minted again for every request).
	t.token, t.refreshAt = tok, t.c.now().Add(ttl-min(tokenEarly, ttl/2))
	return tok, nil
}

// invalidate drops tok if it is still the cached token (another goroutine
// may already have replaced it).
func (t *tokenCache) invalidate(ctx context.Context, tok string) error {
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if t.token == tok {
		t.token = ""
	}
	<-t.sem
	return nil
}

// mint asks the token endpoint for a new token, retrying 5xx, 429 and
// transport failures with the API backoff. 4xx answers are fatal *AuthError.
func (t *tokenCache) mint(ctx context.Context) (string, time.Duration, error) {
	c := t.c
	for attempt := 1; ; attempt++ {
		tok, err := t.request(ctx)
		if err == nil {
			ttl := tokenTTL(tok)
			c.log.Debug("access token minted", "scope", t.scope, "expires_in", ttl)
			return tok.AccessToken, ttl, nil
		}
		if ctx.Err() != nil {
			return "", 0, fmt.Errorf("get access token (scope %s): %w", t.scope, ctx.Err())
		}
		if t.root.Err() != nil {
			return "", 0, fmt.Errorf("get access token (scope %s): %w", t.scope, t.root.Err())
		}
		var ae *AuthError
		if errors.As(err, &ae) {
			return "", 0, err
		}
		if attempt >= c.cfg.MaxAttempts {
			return "", 0, fmt.Errorf("get access token (scope %s): giving up after %d attempts: %w", t.scope, attempt, err)
		}
		wait := c.backoff(attempt)
		var se *tokenStatusError
		if errors.As(err, &se) && se.retryAfter > 0 {
			wait = min(se.retryAfter, c.cfg.MaxWait)
		}
		c.log.Info("retrying token request", "scope", t.scope, "attempt", attempt, "wait", wait, "error", err.Error())
		if err := c.sleep(ctx, wait); err != nil {
			return "", 0, fmt.Errorf("get access token (scope %s): %w", t.scope, err)
		}
	}
}

// tokenStatusError is a retryable status from the token endpoint.
type tokenStatusError struct {
	scope      string
	status     int
	msg        string
	retryAfter time.Duration
}

func (e *tokenStatusError) Error() string {
	s := fmt.Sprintf("get access token (scope %s): %d %s", e.scope, e.status, http.StatusText(e.status))
	if e.msg != "" {
		s += ": " + e.msg
	}
	return s
}

// request makes one token request under the root context (bounded by
// TokenTimeout through the token HTTP client, and abandoned when ctx ends).
func (t *tokenCache) request(ctx context.Context) (*oauth2.Token, error) {
	c := t.c
	rctx, cancel := context.WithCancel(t.root)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()

	c.tokenRequests.Add(1)
	tok, err := t.cc.Token(rctx)
	if err == nil {
		if tok.AccessToken == "" {
			return nil, &AuthError{Scope: t.scope, StatusCode: http.StatusOK, Description: "token response has no access_token"}
		}
		return tok, nil
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		var header http.Header
		if re.Response != nil {
			status, header = re.Response.StatusCode, re.Response.Header
		}
		desc := re.ErrorDescription
		code := re.ErrorCode
		if code == "" && desc == "" {
			var api APIError
			parseErrorBody(&api, re.Body)
			desc = api.Message
			if desc == "" {
				desc = api.Title
			}
		}
		desc = c.redact(snippet(desc, 200))
		code = c.redact(snippet(code, 100))
		if status == http.StatusTooManyRequests {
			c.rateLimited.Add(1)
		}
		if retryableStatus(status) {
			ra, _ := retryAfter(header, nil, c.now())
			return nil, &tokenStatusError{scope: t.scope, status: status, msg: desc, retryAfter: ra}
		}
		return nil, &AuthError{Scope: t.scope, StatusCode: status, Code: code, Description: desc}
	}
	// Transport failures, timeouts and unparseable answers: retryable. The
	// text comes from net/http or oauth2 and names the token URL only; redact
	// anyway.
	return nil, &transportError{msg: c.redact(fmt.Sprintf("get access token (scope %s): %v", t.scope, err)), err: err}
}

// tokenTTL is the token's lifetime from expires_in (clientcredentials does
// not copy ExpiresIn, so it is read from the raw response), or one hour when
// the server sent none.
func tokenTTL(tok *oauth2.Token) time.Duration {
	var secs float64
	switch v := tok.Extra("expires_in").(type) {
	case float64:
		secs = v
	case string:
		secs, _ = strconv.ParseFloat(v, 64)
	}
	switch {
	case secs > 0 && secs < 1e9:
		return time.Duration(secs * float64(time.Second))
	case !tok.Expiry.IsZero():
		return max(time.Until(tok.Expiry), 0)
	}
	return tokenDefaultTTL
}
