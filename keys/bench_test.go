package keys

import (
	"testing"
	"time"
)

// BenchmarkMintNanoMQ signs one NanoMQ token with the RSA-3072 device key:
// the gateway's cost per token request.
func BenchmarkMintNanoMQ(b *testing.B) {
	k := loadTestTokenKey(b, "test_token_key.pem", DefaultTokenKeyName)
	p := TokenProfile{Kind: "nanomq", TTL: DefaultTokenTTL}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Mint(p, "nanomq", "alice", now); err != nil {
			b.Fatal(err)
		}
	}
}
