package standin

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// LoadPublicKey reads the RSA public key NanoMQ is configured with
// (http_server.jwt.public.keyfile, PEM "PUBLIC KEY"; "RSA PUBLIC KEY" is
// accepted too, as NanoMQ's mbedTLS does) and returns it with the issuer
// NanoMQ derives from it: the file's basename.
func LoadPublicKey(path string) (*rsa.PublicKey, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("load public key: %w", err)
	}
	key, err := parsePublicKey(data)
	if err != nil {
		return nil, "", fmt.Errorf("load public key %s: %w", path, err)
	}
	return key, filepath.Base(path), nil
}

func parsePublicKey(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	switch block.Type {
	case "PUBLIC KEY":
		key, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse: %w", err)
		}
		rsaKey, ok := key.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("key is %T, want an RSA key", key)
		}
		return rsaKey, nil
	case "RSA PUBLIC KEY":
		key, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse: %w", err)
		}
		return key, nil
	}
	return nil, fmt.Errorf("PEM block is %q, want \"PUBLIC KEY\"", block.Type)
}
