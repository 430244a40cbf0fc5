// Cyrus SASL (libsasl2), the library libvirt authenticates with: corrald's SASL server uses the
// host's mechanisms, users and /etc/sasl2/libvirt.conf exactly as libvirtd does.
#include <sasl/sasl.h>
#include <string.h>

// sasl_getprop returns const void *; these read the integer properties without casts in Swift.
static inline int corral_sasl_ssf(sasl_conn_t *conn, unsigned *ssf) {
    const void *value = NULL;
    int rc = sasl_getprop(conn, SASL_SSF, &value);
    if (rc == SASL_OK && value) *ssf = *(const sasl_ssf_t *)value;
    return rc;
}

static inline int corral_sasl_max_outbuf(sasl_conn_t *conn, unsigned *size) {
    const void *value = NULL;
    int rc = sasl_getprop(conn, SASL_MAXOUTBUF, &value);
    if (rc == SASL_OK && value) *size = *(const unsigned *)value;
    return rc;
}

static inline const char *corral_sasl_username(sasl_conn_t *conn) {
    const void *value = NULL;
    if (sasl_getprop(conn, SASL_USERNAME, &value) != SASL_OK) return NULL;
    return (const char *)value;
}

static inline int corral_sasl_set_security(sasl_conn_t *conn, unsigned min_ssf, unsigned max_ssf, int allow_anonymous,
                                           unsigned external_ssf) {
    sasl_security_properties_t props;
    memset(&props, 0, sizeof props);
    props.min_ssf = min_ssf;
    props.max_ssf = max_ssf;
    props.maxbufsize = 8192;
    props.security_flags = allow_anonymous ? 0 : (SASL_SEC_NOANONYMOUS | SASL_SEC_NOPLAINTEXT);
    int rc = sasl_setprop(conn, SASL_SEC_PROPS, &props);
    if (rc != SASL_OK) return rc;
    if (external_ssf > 0) {
        sasl_ssf_t external = external_ssf;
        rc = sasl_setprop(conn, SASL_SSF_EXTERNAL, &external);
    }
    return rc;
}
