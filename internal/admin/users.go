package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"image/png"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/portcullis/portcullis/internal/auth"
	"github.com/portcullis/portcullis/internal/store"
)

// Administrators are people: a name, a role (the roles of admin tokens), a
// password and a TOTP second factor.
//
//   - The password is hashed with argon2id by auth.HashPassword (the
//     parameters documented there: 19 MiB, two passes, one lane, a 16-byte
//     random salt, a 32-byte key) and checked by auth.CheckPassword in
//     constant time. A login for a name that does not exist spends the
//     same hashing on a dummy hash, so timing does not tell which names
//     exist.
//   - The second factor is TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second
//     steps, one step of clock drift either way), a 160-bit secret sealed
//     in the store under the master key. Enrolment answers the otpauth://
//     URI and its QR code (PNG) once.
//   - Recovery codes (10, 80 random bits each) are shown once and stored
//     as SHA-256 digests (their entropy makes a slow hash unnecessary);
//     each is accepted once.

// TOTP parameters (RFC 6238 section 4 defaults, which every authenticator
// app implements).
const (
	totpPeriod  = 30
	totpDigits  = otp.DigitsSix
	totpSkew    = 1 // steps accepted either side of now (RFC 6238 section 5.2)
	totpIssuer  = "Portcullis"
	totpSecretN = 20 // bytes: 160 bits, RFC 4226's recommended length
)

// Passwords: long enough to resist guessing, short enough that hashing
// one is bounded.
const (
	minPasswordLen = 12
	maxPasswordLen = 256

	recoveryCodes   = 10
	recoveryCodeLen = 16 // base32 characters: 80 bits
)

// UserView is an administrator as the API shows it.
type UserView struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	Version   int64  `json:"version"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
	// Enrolment is in the answer that created the second factor only.
	Enrolment *Enrolment `json:"enrolment,omitempty"`
}

// Enrolment is a new second factor, shown once: the otpauth:// URI for an
// authenticator app, the same as a QR code (PNG, base64 in JSON) and the
// recovery codes.
type Enrolment struct {
	OTPAuthURI    string   `json:"otpauth_uri"`
	QRCodePNG     []byte   `json:"qr_png"`
	RecoveryCodes []string `json:"recovery_codes"`
}

func userView(u store.User) UserView {
	return UserView{Name: u.Name, Role: u.Role, Version: u.Version, CreatedAt: u.CreatedAt.Format(timeFormat), UpdatedAt: u.UpdatedAt.Format(timeFormat)}
}

// newEnrolment makes a TOTP secret for name and recovery codes: the
// enrolment to show once, the secret to seal and the codes' digests.
func newEnrolment(name string) (e *Enrolment, secret []byte, hashes []string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: name, Period: totpPeriod, SecretSize: totpSecretN, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, nil, nil, err
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return nil, nil, nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, nil, nil, err
	}
	e = &Enrolment{OTPAuthURI: key.URL(), QRCodePNG: buf.Bytes()}
	for range recoveryCodes {
		c, err := newRecoveryCode()
		if err != nil {
			return nil, nil, nil, err
		}
		e.RecoveryCodes = append(e.RecoveryCodes, c)
		hashes = append(hashes, recoveryHash(c))
	}
	return e, []byte(key.Secret()), hashes, nil
}

var recoveryAlphabet = base32.StdEncoding.WithPadding(base32.NoPadding)

// newRecoveryCode is 80 random bits as four groups of four base32
// characters, lower case: "abcd-efgh-ijkl-mnop".
func newRecoveryCode() (string, error) {
	b := make([]byte, recoveryCodeLen*5/8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	s := strings.ToLower(recoveryAlphabet.EncodeToString(b))
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16], nil
}

// recoveryHash is the stored digest of a recovery code, as typed in any
// case, with or without its dashes and spaces.
func recoveryHash(code string) string {
	c := strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(code))
	d := sha256.Sum256([]byte("portcullis recovery code\x00" + c))
	return hex.EncodeToString(d[:])
}

// totpStep finds the time step code is valid for at now, within the
// allowed drift: 0 when it is not valid for any. Every candidate is
// compared, in constant time, so timing does not tell which step was
// close.
func totpStep(secret []byte, code string, now time.Time) int64 {
	if len(code) != 6 {
		return 0
	}
	cur := now.Unix() / totpPeriod
	var found int64
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		step := cur + d
		want, err := totp.GenerateCodeCustom(string(secret), time.Unix(step*totpPeriod, 0), totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found = step
		}
	}
	return found
}

// checkPassword validates a new password.
func checkPassword(pw string) *Problem {
	if n := utf8.RuneCountInString(pw); n < minPasswordLen || len(pw) > maxPasswordLen || !utf8.ValidString(pw) {
		return badField("password", "password must be %d to %d bytes of UTF-8, at least %d characters", minPasswordLen, maxPasswordLen, minPasswordLen)
	}
	return nil
}

func (s *Server) listUsers(q *request) (int, any) {
	limit, after, p := q.page()
	if p != nil {
		return 0, p
	}
	ctx, cancel := context.WithTimeout(q.r.Context(), 5*time.Second)
	defer cancel()
	us, err := s.st.Users(ctx)
	if err != nil {
		return 0, s.storeProblem(err)
	}
	items := make([]UserView, 0, len(us))
	for _, u := range us {
		items = append(items, userView(u))
	}
	return http.StatusOK, paginate(items, func(u UserView) string { return u.Name }, limit, after)
}

type userInput struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"`
}

func (s *Server) createUser(q *request) (int, any) {
	var in userInput
	if p := q.decode(&in); p != nil {
		return 0, p
	}
	if p := checkName(in.Name); p != nil {
		return 0, p
	}
	if p := checkRole(in.Role); p != nil {
		return 0, p
	}
	if p := checkPassword(in.Password); p != nil {
		return 0, p
	}
	hash, err := auth.HashPassword(auth.AlgorithmArgon2id, []byte(in.Password), 0)
	if err != nil {
		return 0, problem(http.StatusInternalServerError, "the password could not be hashed", "")
	}
	e, secret, hashes, err := newEnrolment(in.Name)
	if err != nil {
		return 0, problem(http.StatusInternalServerError, "no second factor could be generated", "")
	}
	u := &store.User{Name: in.Name, Role: in.Role, PasswordHash: hash, TOTPSecret: secret}
	if p := q.write(func(tx store.Tx) error { return tx.CreateUser(u, hashes) }); p != nil {
		if p.Status == http.StatusConflict && !strings.Contains(p.Detail, "master key") {
			p.Field = "name"
		}
		return 0, p
	}
	v := userView(*u)
	v.Enrolment = e
	q.w.Header().Set("Location", "/admin/users/"+u.Name)
	q.w.Header().Set("ETag", etag(u.Version))
	return http.StatusCreated, v
}

func (s *Server) getUser(q *request) (int, any) {
	ctx, cancel := context.WithTimeout(q.r.Context(), 5*time.Second)
	defer cancel()
	u, err := s.st.User(ctx, q.r.PathValue("name"))
	if err != nil {
		p := s.storeProblem(err)
		if p.Status == http.StatusNotFound {
			p.Field = "path.name"
		}
		return 0, p
	}
	q.w.Header().Set("ETag", etag(u.Version))
	return http.StatusOK, userView(*u)
}

type userUpdate struct {
	Role     string `json:"role"`
	Password string `json:"password"`
}

// updateUser changes the role and, when given, the password (which ends
// the user's sessions).
func (s *Server) updateUser(q *request) (int, any) {
	ifv, p := q.ifMatch()
	if p != nil {
		return 0, p
	}
	var in userUpdate
	if p := q.decode(&in); p != nil {
		return 0, p
	}
	if p := checkRole(in.Role); p != nil {
		return 0, p
	}
	u := &store.User{Name: q.r.PathValue("name"), Role: in.Role}
	if in.Password != "" {
		if p := checkPassword(in.Password); p != nil {
			return 0, p
		}
		h, err := auth.HashPassword(auth.AlgorithmArgon2id, []byte(in.Password), 0)
		if err != nil {
			return 0, problem(http.StatusInternalServerError, "the password could not be hashed", "")
		}
		u.PasswordHash = h
	}
	if p := q.writeAt("path.name", func(tx store.Tx) error { return tx.UpdateUser(u, ifv) }); p != nil {
		return 0, p
	}
	q.w.Header().Set("ETag", etag(u.Version))
	return http.StatusOK, userView(*u)
}

func (s *Server) deleteUser(q *request) (int, any) {
	ifv, p := q.ifMatch()
	if p != nil {
		return 0, p
	}
	name := q.r.PathValue("name")
	if p := q.writeAt("path.name", func(tx store.Tx) error { return tx.DeleteUser(name, ifv) }); p != nil {
		return 0, p
	}
	return http.StatusNoContent, nil
}

// enrolUser replaces a user's second factor and recovery codes (a lost
// phone) and ends the user's sessions.
func (s *Server) enrolUser(q *request) (int, any) {
	name := q.r.PathValue("name")
	e, secret, hashes, err := newEnrolment(name)
	if err != nil {
		return 0, problem(http.StatusInternalServerError, "no second factor could be generated", "")
	}
	if p := q.writeAt("path.name", func(tx store.Tx) error { return tx.EnrolTOTP(name, secret, hashes) }); p != nil {
		return 0, p
	}
	return http.StatusOK, e
}
