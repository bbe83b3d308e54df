// Package ijson is the gateway's one check of JSON it decides anything
// from. It exists because a gateway that reads a document one way and
// forwards its bytes to a service that reads them another way has checked
// nothing: {"qty":-5,"qty":1} passes a schema with minimum 1 when the
// validator keeps the last member, and the service's parser, keeping the
// first, sees -5.
//
// Check accepts a text only when it is one I-JSON message (RFC 7493), so
// that every conforming parser reads the same values from it:
//
//   - It is one JSON value (RFC 8259) and nothing else but whitespace: no
//     byte order mark, no second value, no trailing commas or comments.
//   - Member names are unique within each object, at every depth, compared
//     after escapes are decoded, so "a" and "\u0061" are the same name
//     (RFC 7493 section 2.3). Parsers differ on which duplicate wins (the
//     first, the last, an error, or all of them), which is the ambiguity.
//   - Its bytes are UTF-8 (RFC 7493 section 2.1): invalid sequences,
//     overlong forms and encoded surrogates are refused, since parsers
//     replace them, drop them or stop at them differently.
//   - No escape denotes a surrogate that is not part of a pair ("\ud800",
//     "\udc00", a low half before a high one): such a string has no
//     Unicode value, and parsers replace it with U+FFFD or keep the raw
//     half, so two names that compare unequal to one parser may compare
//     equal to another (RFC 7493 section 2.1).
//   - No string holds a Unicode noncharacter (U+FDD0 to U+FDEF, and the last
//     two code points of every plane), raw or escaped: RFC 7493 section
//     2.1 forbids them.
//   - Numbers (RFC 7493 section 2.2) are read as IEEE 754 binary64, as most
//     parsers do, and refused where parsers would disagree about the value:
//     a magnitude beyond the largest double (1e400: +Inf to one parser, an
//     error or a big number to another); a nonzero literal that rounds to
//     zero (1e-400: zero to a double parser, positive to a decimal one);
//     and an integer literal (no fraction, no exponent) whose value is not
//     exactly a double, which can only happen beyond 2^53: 9007199254740993
//     is 2^53+1 to an int64 or big-number parser and 2^53 to a double
//     parser, so a bound checked by one is not the value the other acts on.
//     Integers that are doubles (2^53, 2^64) are accepted: every parser
//     reads the same value. (An integer literal in range has at most 309
//     digits, so the exact comparison is cheap.) A literal with a fraction or an exponent is accepted when it
//     is in range, rounded to the nearest double (0.1, 1.5e300,
//     9007199254740993.0): integer parsers do not read that form, double
//     parsers all round it the same way, and only decimal parsers (which
//     also read 0.1 exactly) see the digits as written; this residual
//     difference is the same at every magnitude and is accepted.
//
// Nesting is bounded (10,000 levels) by the parser, so a hostile document
// cannot exhaust the stack.
//
// The syntax, name, UTF-8 and surrogate rules are enforced by the
// jsontext decoder of github.com/go-json-experiment/json (the mirror of
// Go's encoding/json/v2), with duplicate names and invalid UTF-8
// disallowed; the number and noncharacter rules by one more pass over the
// validated bytes here. A refusal is an *Error whose Reason is one of a
// fixed set of texts (never a piece of the input), fit for logs, metrics
// and problem reasons.
//
// Who calls it: the validate policy (json and json_schema) and the openapi
// policy (every JSON media type of a request body) before any schema sees
// the body; the auth policy's jwt method on a token's header and payload
// before any claim is read; JWKS documents and OAuth2 introspection
// responses before a key or an answer is taken from them. The CEL rules do
// not read bodies, and filter_fields decides per member occurrence (every
// occurrence of a denied name is removed), so neither needs it.
package ijson
