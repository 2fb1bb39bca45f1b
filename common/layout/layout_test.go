package layout

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// moduleRoot is two levels up from this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", root, err)
	}
	return root
}

type listedPackage struct {
	ImportPath string
	Dir        string
	Name       string
	Deps       []string
	GoFiles    []string
}

func goList(t *testing.T, root string, args ...string) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = root
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(out)
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return pkgs
}

func TestEveryPackageHasADocComment(t *testing.T) {
	root := moduleRoot(t)
	for _, p := range goList(t, root, "./...") {
		if len(p.GoFiles) == 0 {
			continue
		}
		documented := false
		for _, f := range p.GoFiles {
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatalf("parsing %s: %v", f, err)
			}
			if file.Doc != nil && strings.TrimSpace(file.Doc.Text()) != "" {
				documented = true
				break
			}
		}
		if !documented {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
}

func TestOnlyNodeagentLinksKernelAndGPULibraries(t *testing.T) {
	root := moduleRoot(t)
	forbidden := []string{"github.com/cilium/ebpf", "github.com/NVIDIA/go-nvml"}
	for _, daemon := range []string{"./apiserver", "./authsidecar", "./auditshipper"} {
		if _, err := os.Stat(filepath.Join(root, daemon)); err != nil {
			t.Fatalf("daemon directory %s missing: %v", daemon, err)
		}
		for _, p := range goList(t, root, daemon) {
			for _, dep := range p.Deps {
				for _, f := range forbidden {
					if strings.HasPrefix(dep, f) {
						t.Errorf("%s links %s; only nodeagent may", daemon, dep)
					}
				}
			}
		}
	}
}

func TestCommonNeverImportsADaemon(t *testing.T) {
	root := moduleRoot(t)
	for _, p := range goList(t, root, "./common/...") {
		for _, dep := range p.Deps {
			for _, d := range []string{"apiserver", "authsidecar", "auditshipper", "nodeagent"} {
				if strings.HasPrefix(dep, "github.com/meshoptixiq/mesh/"+d) {
					t.Errorf("%s imports daemon package %s", p.ImportPath, dep)
				}
			}
		}
	}
}
