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
// `origin_not_allowed`, both in JSON, before DynamoDB Local reads the request.
//
// Run in Java's source-file mode (JEP 330: no build step, no class file kept):
//   java -cp DynamoDBLocal.jar:DynamoDBLocal_lib/* LoopbackDynamoDBLocal.java <DynamoDB Local's options>

import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Set;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
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
        server.setHandler(new Handler.Wrapper(server.getHandler()) {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                String host = request.getHeaders().get(HttpHeader.HOST);
                if (host == null || !hosts.contains(host.toLowerCase(Locale.ROOT))) {
                    return refuse(response, callback, 421, "misdirected_request",
                        "this server answers only Host " + LOOPBACK + ":" + port + ", localhost:" + port
                            + " or [::1]:" + port);
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

    private static boolean refuse(Response response, Callback callback, int status, String code, String message) {
        byte[] body = ("{\"code\":\"" + code + "\",\"message\":\"" + message + "\"}").getBytes(StandardCharsets.UTF_8);
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.getHeaders().put(HttpHeader.CONNECTION, "close");
        response.write(true, ByteBuffer.wrap(body), callback);
        return true;
    }
}
