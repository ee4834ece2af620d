package proxy

import (
	"strings"
	"testing"
)

// validValueBytewise is validValue's rule, one byte at a time.
func validValueBytewise(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func TestValidValueEveryByteAtEveryOffset(t *testing.T) {
	base := strings.Repeat("eyJhbGciOiJSUzI1NiJ9-_.", 3)
	// Every length from 1 to 33, so that the byte is also in a string
	// shorter than a word and in the byte-wise tail after the words.
	for c := 0; c < 256; c++ {
		for n := 1; n <= 33; n++ {
			for at := 0; at < n; at++ {
				v := base[:at] + string([]byte{byte(c)}) + base[at:n-1]
				if got, want := validValue(v), validValueBytewise(v); got != want {
					t.Fatalf("validValue(%q) = %v, want %v", v, got, want)
				}
			}
		}
	}
}

func FuzzValidValue(f *testing.F) {
	f.Add("Bearer a.b.c")
	f.Add("a\tb\x7fcdefghijk")
	f.Add("\xff\xfe\x80\x1f0123456789")
	f.Fuzz(func(t *testing.T, v string) {
		if got, want := validValue(v), validValueBytewise(v); got != want {
			t.Fatalf("validValue(%q) = %v, want %v", v, got, want)
		}
	})
}

func BenchmarkValidValue(b *testing.B) {
	v := "Bearer " + strings.Repeat("eyJhbGciOiJSUzI1NiJ9", 38)
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		if !validValue(v) {
			b.Fatal("refused")
		}
	}
}
