// Package fetch is the client for the Sherweb partner APIs: payable charges
// (Distributor API) and customers, receivable charges and subscriptions
// (Service Provider API).
//
// Authentication is OAuth2 client credentials against
// {base}/auth/oidc/connect/token, one token per API (scopes "distributor" and
// "service-provider"), cached per scope and refreshed ten seconds before
// expiry. The subscription key (Ocp-Apim-Subscription-Key), Accept-Language
// and Accept headers go on every request, the token request included.
//
// Every call is a GET and goes through one retry loop (retry.go): 429, 5xx
// other than 501, timeouts, connection failures and truncated bodies are
// retried with the server's Retry-After or full-jitter backoff, bounded by
// Config.MaxAttempts and Config.MaxWait. A 401 mints a new token and retries
// once. Bad data is never retried: it is a *DecodeError naming the endpoint,
// the record and the field.
//
// The payable charges response, the largest by far, is streamed: charges are
// decoded one by one and handed to a PayableHandler, so memory does not grow
// with the size of the period. The other responses are read whole, up to
// Config.MaxBodyBytes.
//
// Secrets (client secret, subscription key, access tokens) never appear in
// errors or log records.
package fetch
