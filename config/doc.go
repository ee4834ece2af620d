// Package config reads and edits the gateway's configuration file.
//
// The file is line oriented, in the style of sshd_config: one keyword and its
// arguments per line, '#' starts a comment, keywords are case-insensitive.
// It is strict: an unknown keyword, a missing or extra argument, or a repeated
// single-valued keyword is an error that names the file and line.
//
//	Listen 0.0.0.0:2222
//	HostKey host_ed25519_key
//	AuthorizedKeysFile authorized_keys
//	Service nanomq 127.0.0.1:8081
//	Grant alice nanomq
//	DialTimeout 5s
//	LoginGraceTime 30s
//	DrainTimeout 30s
//
// Relative paths are relative to the directory holding the config file.
// Edits made by Set and Remove keep every other line, comment and blank line
// as it was, so an operator's notes survive `gateway allow` and `revoke`.
package config
