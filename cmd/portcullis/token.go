package main

import (
	"fmt"
	"io"
)

// cmdToken is being written (issue 3); until then it says so and fails.
func cmdToken(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "portcullis: this command is not available yet")
	return 2
}
