package app

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Machine is an ELF e_machine value: what a bootstrap binary was built for.
type Machine uint16

// The two machines a Lambda function (and this host) can be.
const (
	MachineX8664   Machine = 62
	MachineAArch64 Machine = 183
)

func (m Machine) String() string {
	switch m {
	case MachineX8664:
		return "x86-64 (GOARCH=amd64)"
	case MachineAArch64:
		return "arm64 (GOARCH=arm64)"
	}
	return fmt.Sprintf("ELF machine %d", uint16(m))
}

// HostMachine is the machine of the process running the app (the local rehearsal deploys host
// binaries, because it runs the deployed code on this host).
func HostMachine() Machine {
	if runtime.GOARCH == "arm64" {
		return MachineAArch64
	}
	return MachineX8664
}

// AssetCheck says what the function assets must be. Lambda runs exactly the bytes of the asset, so
// a bootstrap that is missing, not executable, built for the other architecture or older than its
// sources would deploy cleanly and then fail (or run old code) at the first event; synth refuses it.
type AssetCheck struct {
	// Root holds <fn>/bootstrap and <fn>/declaration.json.
	Root string
	// Machine is the architecture the functions are deployed with.
	Machine Machine
	// SourceRoot, when set, is the module root: a bootstrap older than any Go source file of its
	// function's packages (or go.mod, go.sum) is stale. Empty skips the check (tests with
	// placeholder binaries).
	SourceRoot string
}

// CheckAssets verifies every function asset: a bootstrap that is an executable ELF file for the
// deployed architecture, not older than its sources, and exactly this declaration next to it, so
// what is validated here is what the functions read and run. Every problem is reported at once.
func (d *Declaration) CheckAssets(c AssetCheck) error {
	var problems []string
	var sources map[string]sourceStamp
	if c.SourceRoot != "" {
		var err error
		if sources, err = newestSources(c.SourceRoot); err != nil {
			return err
		}
	}
	rebuild := fmt.Sprintf("run `make build DECLARATION=%s`", d.Path)
	for _, fn := range FunctionNames {
		dir := filepath.Join(c.Root, fn)
		bin := filepath.Join(dir, "bootstrap")
		problems = append(problems, checkBootstrap(bin, fn, c.Machine, sources, rebuild)...)
		got, err := os.ReadFile(filepath.Join(dir, "declaration.json"))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: no declaration.json (%s)", dir, rebuild))
			continue
		}
		if !bytes.Equal(got, d.Raw) {
			problems = append(problems, fmt.Sprintf("%s/declaration.json differs from %s (%s)", dir, d.Path, rebuild))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("function assets under %s are not what the functions must run:\n%s", c.Root, strings.Join(problems, "\n"))
	}
	return nil
}

// checkBootstrap returns the problems of one bootstrap binary.
func checkBootstrap(bin, fn string, want Machine, sources map[string]sourceStamp, rebuild string) []string {
	st, err := os.Stat(bin)
	if err != nil {
		return []string{fmt.Sprintf("%s: no bootstrap binary (%s)", filepath.Dir(bin), rebuild)}
	}
	var problems []string
	if st.Mode()&0o111 == 0 {
		problems = append(problems, fmt.Sprintf("%s is not executable (mode %v): Lambda could not start it (%s)", bin, st.Mode().Perm(), rebuild))
	}
	got, err := elfMachine(bin)
	switch {
	case err != nil:
		problems = append(problems, fmt.Sprintf("%s is not a Linux executable: %v (%s)", bin, err, rebuild))
	case got != want:
		problems = append(problems, fmt.Sprintf("%s is built for %s, but the function runs on %s (%s)", bin, got, want, rebuild))
	}
	if src, ok := sources[fn]; ok && src.mod.After(st.ModTime()) {
		problems = append(problems, fmt.Sprintf("%s is stale: %s changed after it was built (%s)", bin, src.path, rebuild))
	}
	return problems
}

// elfMachine reads the ELF header of path and returns its machine. Only the header is read: the
// identity bytes, then e_machine at offset 18 in the file's byte order.
func elfMachine(path string) (Machine, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var h [20]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return 0, fmt.Errorf("reading its ELF header: %w", err)
	}
	if !bytes.Equal(h[:4], []byte("\x7fELF")) {
		return 0, fmt.Errorf("no ELF header (starts with %q)", h[:4])
	}
	var order binary.ByteOrder = binary.LittleEndian
	if h[5] == 2 {
		order = binary.BigEndian
	}
	return Machine(order.Uint16(h[18:20])), nil
}

// sourceStamp is the newest source file of one function.
type sourceStamp struct {
	path string
	mod  time.Time
}

// newestSources finds, for each function, the newest Go source file among the module's own packages
// it is built from (`go list -deps`; test files excluded), and go.mod and go.sum.
func newestSources(root string) (map[string]sourceStamp, error) {
	args := []string{"list", "-deps", "-f", "{{.ImportPath}}\t{{if .Module}}{{.Module.Main}}{{end}}\t{{.Dir}}\t{{join .GoFiles \",\"}}\t{{join .EmbedFiles \",\"}}\t{{join .Deps \",\"}}"}
	for _, fn := range FunctionNames {
		args = append(args, "./functions/"+fn)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the functions' sources (go list in %s): %v\n%s", root, err, stderr.String())
	}
	type pkg struct {
		files []string
		deps  []string
	}
	pkgs := map[string]pkg{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 6 || f[1] != "true" {
			continue
		}
		var p pkg
		for _, list := range []string{f[3], f[4]} {
			for _, name := range strings.Split(list, ",") {
				if name != "" {
					p.files = append(p.files, filepath.Join(f[2], name))
				}
			}
		}
		p.deps = strings.Split(f[5], ",")
		pkgs[f[0]] = p
	}
	newest := func(paths []string, cur sourceStamp) (sourceStamp, error) {
		for _, p := range paths {
			st, err := os.Stat(p)
			if err != nil {
				return cur, fmt.Errorf("reading a source file's time: %w", err)
			}
			if st.ModTime().After(cur.mod) {
				cur = sourceStamp{path: p, mod: st.ModTime()}
			}
		}
		return cur, nil
	}
	base, err := newest([]string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}, sourceStamp{})
	if err != nil {
		return nil, err
	}
	stamps := map[string]sourceStamp{}
	for _, fn := range FunctionNames {
		main := ""
		for ip := range pkgs {
			if strings.HasSuffix(ip, "/functions/"+fn) {
				main = ip
			}
		}
		p, ok := pkgs[main]
		if !ok {
			return nil, fmt.Errorf("go list in %s did not list ./functions/%s", root, fn)
		}
		s, err := newest(p.files, base)
		if err != nil {
			return nil, err
		}
		for _, dep := range p.deps {
			if dp, ok := pkgs[dep]; ok {
				if s, err = newest(dp.files, s); err != nil {
					return nil, err
				}
			}
		}
		stamps[fn] = s
	}
	return stamps, nil
}
