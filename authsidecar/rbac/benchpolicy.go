package rbac

import (
	"fmt"
	"strings"
)

// BenchPolicyYAML builds the benchmark policy of the issue: 100 roles × 20 patterns (a
// mix of exact, prefix, suffix and general globs) and 10,000 groups.
func BenchPolicyYAML() (doc string, groups []string) {
	var sb strings.Builder
	sb.WriteString("roles:\n")
	for r := 0; r < 100; r++ {
		fmt.Fprintf(&sb, "  role_%d:\n    allow:\n", r)
		for k := 0; k < 20; k++ {
			switch k % 4 {
			case 0:
				fmt.Fprintf(&sb, "      - \"perm_%d_%d\"\n", r, k)
			case 1:
				fmt.Fprintf(&sb, "      - \"perm_%d_%d_*\"\n", r, k)
			case 2:
				fmt.Fprintf(&sb, "      - \"*_%d_%d_end\"\n", r, k)
			default:
				fmt.Fprintf(&sb, "      - \"perm_%d_?%d*[a-z]\"\n", r, k)
			}
		}
	}
	sb.WriteString("groups:\n")
	for g := 0; g < 10000; g++ {
		name := fmt.Sprintf("group-%05d", g)
		groups = append(groups, name)
		fmt.Fprintf(&sb, "  %q: role_%d\n", name, g%100)
	}
	return sb.String(), groups
}
