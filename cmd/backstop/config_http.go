package main

import (
	"net"
)

// HTTPConfig is the optional monitoring endpoint.
type HTTPConfig struct {
	// Listen is host:port for /healthz and /metrics (e.g. 127.0.0.1:9464);
	// empty (the default) serves nothing. Keep it on loopback or a
	// monitoring network: it needs no login.
	Listen string `yaml:"listen"`
}

func (c *Config) validateHTTP(bad func(key, format string, args ...any)) {
	if c.HTTP.Listen == "" {
		return
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		bad("http.listen", "%q is not host:port (e.g. 127.0.0.1:9464): %v", c.HTTP.Listen, err)
	}
}
