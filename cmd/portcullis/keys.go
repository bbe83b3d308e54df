package main

import (
	"fmt"
	"io"
)

// cmdKeys is being written (issue 3); until then it says so and fails.
func cmdKeys(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "portcullis: this command is not available yet")
	return 2
}
