// cbor-x loads `cbor-extract` only to speed up decoding strings and falls
// back to plain JavaScript when it is absent (null here). The real package's
// prebuilt platform packages are not on the registry this project reaches,
// which leaves them out of package-lock.json and makes `npm ci` refuse the
// lock; this stub keeps the lock complete. Wire bytes are unaffected: cbor-x
// encodes without it.
module.exports = null
