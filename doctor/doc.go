// Package doctor inspects a device the way an auditor would, for
// `gateway doctor`: whether each service listens on loopback only (from the
// kernel's socket tables), whether it answers, whether a NanoMQ-profile
// service refuses requests without credentials and with NanoMQ's default
// admin/public and accepts a token the gateway mints, and whether the key
// and config files have safe modes and owners.
//
// Each check returns a [Result]: pass, warn or fail, what was seen, and for
// anything but a pass, what to change. [Write] prints them as a table.
// The package decides nothing about access; it only looks.
package doctor
