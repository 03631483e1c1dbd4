-- Root application of the bundled sample (rtmp://host/, rtmfp://host/, ws://host/, http://host/).
-- Replace it with your own MonaServer www/ tree: every folder under www/ is an application.

function onStart(path)
	-- apps without their own onStart (www/live/) come here too, with their own path
	if path == "" then NOTE("Sample root application started") else NOTE("Application ", path, " started") end
end

function onConnection(client, ...)
	-- RPC callable from every protocol: nc.call("hello", responder, "Bob") over RTMP/RTMFP,
	-- ["hello","Bob"] over WebSocket, GET /hello?Bob or a POST over HTTP.
	function client:hello(name)
		return "Hello "..tostring(name)
	end
end
