// A TCP relay in front of the reference server that a test can take down and bring back on the
// same port: "the server is stopped" without stopping the one server the whole suite shares.
package dev.syncline.android

import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.net.URI
import java.util.Collections

class StoppableProxy(target: String) : AutoCloseable {
    private val to = URI(target)
    private val open = Collections.synchronizedSet(mutableSetOf<Socket>())
    @Volatile private var listener: ServerSocket? = null

    /** The port it listens on (the same across stop and start). */
    val port: Int

    /** The URL clients use instead of the server's. */
    val url: String get() = "http://127.0.0.1:$port"

    init {
        port = listen(0)
    }

    private fun listen(port: Int): Int {
        val socket = ServerSocket()
        socket.reuseAddress = true
        socket.bind(InetSocketAddress(InetAddress.getLoopbackAddress(), port))
        listener = socket
        Thread({
            while (!socket.isClosed) {
                val client = runCatching { socket.accept() }.getOrNull() ?: break
                val upstream = runCatching { Socket(to.host, to.port) }.getOrNull()
                if (upstream == null) {
                    client.close()
                    continue
                }
                open += client
                open += upstream
                pipe(client, upstream)
                pipe(upstream, client)
            }
        }, "proxy-accept").apply { isDaemon = true }.start()
        return socket.localPort
    }

    private fun pipe(from: Socket, to: Socket) {
        Thread({
            runCatching { from.getInputStream().copyTo(to.getOutputStream()) }
            runCatching { to.shutdownOutput() }
        }, "proxy-pipe").apply { isDaemon = true }.start()
    }

    /** Takes the server "down": refuses new connections and cuts the open ones. */
    fun stop() {
        listener?.close()
        listener = null
        synchronized(open) {
            open.forEach { runCatching { it.close() } }
            open.clear()
        }
    }

    /** Brings it back on the same port. */
    fun start() {
        if (listener == null) listen(port)
    }

    override fun close() = stop()
}
