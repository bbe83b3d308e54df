package auth

// CheckPassword reports whether password matches hash (a hash of
// HashPassword: argon2id or bcrypt), in time that does not depend on
// where they differ. It is the one password check for Basic credentials
// and administrators alike.
func CheckPassword(hash string, password []byte) (bool, error) {
	v, err := parsePasswordHash(hash)
	if err != nil {
		return false, err
	}
	return v.verify(password), nil
}
