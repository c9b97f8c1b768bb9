package config

import (
	"fmt"
	"io"
	"os"
)

// maxFileSize bounds what one configuration file may hold, so that an
// include of the wrong file cannot exhaust memory.
const maxFileSize = 16 << 20

// Load reads the configuration file at path, follows its include
// directives (relative paths are resolved against the directory of the
// including file), parses and validates it, and applies Odyssey's
// defaults.
//
// When anything is wrong the error is a *LoadError listing every problem,
// warnings included; otherwise Config.Warnings lists the keywords that were
// accepted but have no effect.
func Load(path string) (*Config, error) {
	src, err := readConfigFile(path)
	if err != nil {
		return nil, &LoadError{Diags: []Diag{{Pos: Position{File: path}, Message: err.Error()}}}
	}
	return parse(path, src, readConfigFile)
}

// Parse is Load for a configuration that is already in memory. name is used
// in diagnostics, and includes are resolved against its directory.
func Parse(name string, src []byte) (*Config, error) {
	return parse(name, src, readConfigFile)
}

// parse is the common body of Load and Parse. readFile reads included
// files; tests replace it.
func parse(name string, src []byte, readFile func(string) ([]byte, error)) (*Config, error) {
	p := newParser(name, readFile)
	p.parseFile(name, absPath(name), src)
	if !p.diags.full() {
		p.validate()
	}
	diags := p.diags.sorted()
	if p.diags.errors > 0 {
		return nil, &LoadError{Diags: diags}
	}
	p.cfg.Warnings = p.diags.warnings()
	return p.cfg, nil
}

// readConfigFile reads a regular file of bounded size. Devices, pipes and
// directories are refused: reading /dev/zero by mistake must not hang.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	src, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(src) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxFileSize>>20)
	}
	return src, nil
}
