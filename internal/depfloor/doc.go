// Package depfloor holds no code, only a test: it fails when the module's
// go.mod lets a security-relevant dependency fall below the lowest version
// loopgate accepts (golang.org/x/crypto v0.59.0, github.com/golang-jwt/jwt/v5
// v5.2.2), or drops it.
//
// The test reads go.mod itself rather than the test binary's build
// information, because a test binary's runtime/debug.BuildInfo lists no
// dependencies. A replace directive that pins a module to another version
// counts; one that swaps in a directory or another module fails the test,
// as its version cannot be checked.
package depfloor
