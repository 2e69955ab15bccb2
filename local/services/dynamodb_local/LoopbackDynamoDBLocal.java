// AWS's DynamoDB Local, started as its own ServerRunner starts it, but safe beside a browser.
//
// DynamoDB Local has no option for its address: its Jetty server is `new Server(port)`, which listens on
// every interface (`*:<port>`: anyone on the same network could read or wipe a developer's tables), and
// it answers any `Host` (a page of another site whose name was made to resolve to 127.0.0.1, DNS
// rebinding, is same-origin to it and may send DynamoDB's signed requests with any key, which it
// accepts). This launcher builds the server with DynamoDB Local's own code and options, then, before it
// starts: binds its connector to 127.0.0.1 only, and puts in front of its handler the rule every port of
// `make run` applies (local.emulator.http_server.host_refusal): a `Host` other than this port's loopback
// names is 421 `misdirected_request`, and any `Origin` (a browser's request; boto3 sends none) is 403
// `origin_not_allowed`, both in JSON, before DynamoDB Local reads the request. What Jetty refuses
// itself before any handler sees it (a Host with `@` or userinfo, an absolute-form target naming another
// host than Host, two Host headers, bytes that are not HTTP, a malformed header) was its HTML error page;
// `JsonErrorHandler` answers it in JSON like every other port: 421 `misdirected_request` for the Host
// forms, else the contract's code for the status (never a 5xx for what a client sent).
//
// Run in Java's source-file mode (JEP 330: no build step, no class file kept):
//   java -cp DynamoDBLocal.jar:DynamoDBLocal_lib/* LoopbackDynamoDBLocal.java <DynamoDB Local's options>

import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public final class LoopbackDynamoDBLocal {
    private static final String LOOPBACK = "127.0.0.1";

    private LoopbackDynamoDBLocal() {}

    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        // The Jetty server is a private field of DynamoDB Local's proxy, built but not started yet.
        Field serverField = DynamoDBProxyServer.class.getDeclaredField("server");
        serverField.setAccessible(true);
        Server server = (Server) serverField.get(proxy);
        Connector[] connectors = server.getConnectors();
        if (connectors.length != 1 || !(connectors[0] instanceof ServerConnector connector)) {
            throw new IllegalStateException("DynamoDB Local's server is not one ServerConnector: " + connectors.length);
        }
        connector.setHost(LOOPBACK);
        int port = connector.getPort();
        // The loopback names of local.emulator.http_server.LOOPBACK_NAMES (keep the two lists alike)
        Set<String> hosts = Set.of(LOOPBACK + ":" + port, "localhost:" + port, "[::1]:" + port);
        String misdirected = "this server answers only Host " + LOOPBACK + ":" + port + ", localhost:" + port
            + " or [::1]:" + port;
        server.setErrorHandler(new JsonErrorHandler(misdirected));
        server.setHandler(new Handler.Wrapper(server.getHandler()) {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                String host = request.getHeaders().get(HttpHeader.HOST);
                // One Host, one of this port's names (Jetty refuses two, but the rule does not rely on it)
                if (host == null || request.getHeaders().getValuesList(HttpHeader.HOST).size() != 1
                        || !hosts.contains(host.toLowerCase(Locale.ROOT))) {
                    return refuse(response, callback, 421, "misdirected_request", misdirected);
                }
                if (request.getHeaders().get(HttpHeader.ORIGIN) != null) {
                    return refuse(response, callback, 403, "origin_not_allowed",
                        "the local DynamoDB does not answer browsers");
                }
                return super.handle(request, response, callback);
            }
        });
        proxy.start();
        if (!server.isStarted()) {
            // DynamoDBProxyServer.start() reports some failures (a SocketException) by printing and returning
            System.err.println("DynamoDB Local did not start on " + LOOPBACK + ":" + port);
            System.exit(1);
        }
        System.out.println("DynamoDB Local listening on " + LOOPBACK + ":" + port + " only");
        proxy.join();
    }

    /** Jetty's own refusals (before any handler: the request line, the headers, Host and authority), in
     * JSON: what `local.emulator.http_server.JsonErrorTask` does for the waitress ports. */
    static final class JsonErrorHandler extends ErrorHandler {
        // The contract's codes of the refusals (as the waitress ports answer them): an oversize URI is
        // 431 there, and a version or a coding the server does not implement is the client's 400
        private static final Map<Integer, String> CODES = Map.of(
            400, "bad_request", 413, "payload_too_large", 414, "request_header_fields_too_large",
            431, "request_header_fields_too_large", 501, "bad_request", 505, "bad_request");
        private final String misdirected;

        JsonErrorHandler(String misdirected) {
            this.misdirected = misdirected;
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            int status = request.getAttribute(ERROR_STATUS) instanceof Integer given ? given : response.getStatus();
            String reason = request.getAttribute(ERROR_MESSAGE) instanceof String given ? given : "";
            byte[] body = json(status, reason);
            response.getHeaders().clear();
            return refuse(response, callback, statusOf(status, reason), body);
        }

        @Override
        public ByteBuffer badMessageError(int status, String reason, HttpFields.Mutable fields) {
            fields.put(HttpHeader.CONTENT_TYPE, "application/json");
            return ByteBuffer.wrap(json(status, reason == null ? "" : reason));
        }

        private static boolean hostForm(String reason) {
            // Jetty's reasons: "Bad HostPort" (`@`, userinfo), "Authority!=Host" (an absolute-form target
            // naming another host), "Duplicate Host Header", "No Host"
            return reason.contains("Host") || reason.contains("Authority");
        }

        private int statusOf(int status, String reason) {
            if (status == 400 && hostForm(reason)) {
                return 421;
            }
            return switch (status) {
                case 414 -> 431;
                case 501, 505 -> 400;
                default -> status;
            };
        }

        private byte[] json(int status, String reason) {
            if (status == 400 && hostForm(reason)) {
                return body("misdirected_request", misdirected + " (" + reason + ")");
            }
            String code = CODES.getOrDefault(status, status >= 500 ? "internal_error" : "bad_request");
            return body(code, reason.isEmpty() ? "The request was refused." : reason);
        }
    }

    private static byte[] body(String code, String message) {
        return ("{\"code\":\"" + code + "\",\"message\":\"" + escaped(message) + "\"}").getBytes(StandardCharsets.UTF_8);
    }

    private static String escaped(String text) {
        StringBuilder out = new StringBuilder();
        for (char c : text.substring(0, Math.min(text.length(), 300)).toCharArray()) {
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    private static boolean refuse(Response response, Callback callback, int status, String code, String message) {
        return refuse(response, callback, status, body(code, message));
    }

    private static boolean refuse(Response response, Callback callback, int status, byte[] body) {
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.getHeaders().put(HttpHeader.CONNECTION, "close");
        response.write(true, ByteBuffer.wrap(body), callback);
        return true;
    }
}
