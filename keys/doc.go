// Package keys owns key material on disk: the gateway's host key, public key
// files, and the authorized_keys file that says which operator keys may connect
// and with which OpenSSH options; and, for the client, the known_hosts files
// that pin a gateway's host key ([KnownHosts]), the operator's identities
// ([LoadIdentity]) and ssh-agent ([Agent]); and token signing keys (PKCS#8
// PEM with a PKIX ".pub", as NanoMQ expects) with the short-lived JWTs minted
// per service token profile ([LoadTokenKey], [TokenKey.Mint]).
//
// Formats are OpenSSH's, so ssh-keygen and existing tooling keep working:
//
//   - host keys are ed25519 keys in the "OPENSSH PRIVATE KEY" PEM format, with a
//     matching ".pub" file in authorized_keys line format;
//   - authorized_keys lines are `[options] key-type base64 [comment]`, where the
//     comment names the identity. Only the options that the gateway can honour
//     (or that have no effect because it refuses the feature anyway) are
//     accepted; anything else is an error naming the file, line and option,
//     rather than being silently ignored;
//   - known_hosts lines are OpenSSH's, hashed or not, with @revoked and
//     @cert-authority markers; a line x/crypto's reader would skip is an error
//     naming the file and line.
//
// Files are checked the way sshd checks them: a private key must be a regular
// file owned by the running user and not accessible by group or others; an
// authorized_keys or config file must not be writable by group or others and
// must be owned by the running user or root. On systems without Unix
// permissions (Windows) only the regular-file check applies. Failures wrap
// [ErrBadPermissions].
//
// Writes are atomic: [WriteFileAtomic] and [CreateFileExclusive] never leave a
// partial file at the destination path.
//
// The package imports nothing else of loopgate and does no logging; callers
// decide what to report.
package keys
