import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Properties;

/**
 * The line format shared by the harness (src/harness/tools.rs) and the test
 * clients. Fields are separated by single spaces; a byte field is "~" when
 * null and "=" followed by base64 (standard alphabet, padded) when present, so
 * "=" alone is an empty array. That keeps null and empty apart and lets any
 * binary payload through a text pipe.
 */
final class Wire {
    private Wire() {}

    static String bytes(byte[] b) {
        return b == null ? "~" : "=" + Base64.getEncoder().encodeToString(b);
    }

    static String text(String s) {
        return bytes(s == null ? null : s.getBytes(StandardCharsets.UTF_8));
    }

    static byte[] parseBytes(String field) {
        if (field.equals("~")) {
            return null;
        }
        if (!field.startsWith("=")) {
            throw new IllegalArgumentException("byte field must be '~' or '=base64', got: " + field);
        }
        return Base64.getDecoder().decode(field.substring(1));
    }

    /**
     * Adds the client properties given as "key=value" arguments from index
     * {@code from} on; {@code what} names them in the error for a bad one.
     */
    static void putProperties(Properties props, String[] args, int from, String what) {
        for (int i = from; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException(what + " property must be key=value: " + args[i]);
            }
            props.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
    }

    static String parseText(String field) {
        byte[] b = parseBytes(field);
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }
}
