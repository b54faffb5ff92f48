package report

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// FingerprintKey is the identity of a finding across periods
// (comparison-rules.md, "Findings movement"): the same problem has the same
// key every month, because the line periods are left out.
//
//   - line findings and data-quality findings: (kind, customer id, sku,
//     chargeType, currency);
//   - unattributed: (kind, "", sku, reason, currency): the reason stands in
//     for the charge type;
//   - missing_receivables: (kind, customer id, "", "", currency).
type FingerprintKey struct {
	Kind       string
	CustomerID string
	SKU        string
	ChargeType string // the reason, for unattributed findings
	Currency   string
}

// FingerprintOf returns the fingerprint key of a finding of a Result.
func FingerprintOf(f *Finding) FingerprintKey {
	switch f.Kind {
	case KindUnattributed:
		return FingerprintKey{Kind: f.Kind, SKU: f.SKU, ChargeType: f.Reason, Currency: f.Currency}
	case KindMissingReceivables:
		return FingerprintKey{Kind: f.Kind, CustomerID: f.CustomerID, Currency: f.Currency}
	}
	return FingerprintKey{Kind: f.Kind, CustomerID: f.CustomerID, SKU: f.SKU, ChargeType: f.ChargeType, Currency: f.Currency}
}

// fingerprintVersion prefixes the hashed text, so that a later change of the
// encoding cannot collide with version 1 ids.
const fingerprintVersion = "fp1"

// String is the fingerprint as shown in reports and used by the exceptions
// register: the first 16 hex digits (64 bits) of the SHA-256 of
//
//	"fp1" then, for each of kind, customer id, sku, charge type, currency:
//	len(field) in decimal, ":", field, ";"
//
// The length prefixes make the encoding unambiguous whatever the fields hold.
// The fields are hashed exactly as they are in the Result (the currency is
// already normalised by the engine; ids and SKUs are as sent).
func (k FingerprintKey) String() string {
	h := sha256.New()
	var buf []byte
	buf = append(buf, fingerprintVersion...)
	for _, f := range [...]string{k.Kind, k.CustomerID, k.SKU, k.ChargeType, k.Currency} {
		buf = strconv.AppendInt(buf, int64(len(f)), 10)
		buf = append(buf, ':')
		buf = append(buf, f...)
		buf = append(buf, ';')
	}
	h.Write(buf)
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:8])
}

// Fingerprint returns the fingerprint text of a finding (FingerprintOf(f).String()).
func Fingerprint(f *Finding) string { return FingerprintOf(f).String() }
