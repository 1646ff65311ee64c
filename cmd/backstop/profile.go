package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// ProfileEnv names a file that serve writes a CPU profile to, from start to
// stop (go tool pprof reads it): for measuring, as cmd/bench does.
const ProfileEnv = "BACKSTOP_CPUPROFILE"

// startProfile starts the CPU profile ProfileEnv asks for; stop ends it.
func startProfile() (stop func(), err error) {
	path := os.Getenv(ProfileEnv)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", ProfileEnv, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
