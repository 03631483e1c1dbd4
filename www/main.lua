-- Root application of the bundled sample (rtmp://host/, rtmfp://host/, ws://host/, http://host/).
-- Replace it with your own MonaServer www/ tree: every folder under www/ is an application, and
-- its globals and events fall back to this one (see docs/scripting.md). chat/main.ts and
-- api/main.js are apps written in TypeScript and JavaScript: an app may use any of the languages.

function onStart(path)
	-- apps without their own onStart (www/live/) come here too, with their own path
	if path == "" then
		-- `data` persists under data/ across restarts (MonaServer's layout)
		data.starts = (data.starts or 0) + 1
		NOTE("Sample root application started")
		INFO("server start #", data.starts)
	else
		NOTE("Application ", path, " started")
	end
end

function onConnection(client, ...)
	-- the server itself logs every connection, publish, play and disconnection at INFO (with
	-- protocol, address, app, stream and reason); scripts log what only they know, e.g.
	DEBUG(client.protocol, " client ", client.address, " connected with ", select("#", ...), " argument(s)")

	-- RPC callable from every protocol: nc.call("hello", responder, "Bob") over RTMP/RTMFP,
	-- ["hello","Bob"] over WebSocket, GET /hello?Bob or a POST over HTTP.
	function client:hello(name)
		return "Hello "..tostring(name)
	end

	-- data sent without a method name (a WebSocket text message, NetStream.send without handler)
	function client:onMessage(...)
		return ...
	end

	-- return false or error("why") here to refuse a publication (NetStream.Publish.Failed)
	function client:onPublish(publication)
		DEBUG("publishing ", publication.name, " approved")
	end

	-- what is published, with listener counts and video byte rates, and how many clients are on
	function client:stats()
		local result = {}
		for name, publication in pairs(mona.publications) do
			result[name] = { listeners = #publication.listeners, videoByteRate = publication.videoQOS.byteRate }
		end
		return result, #mona.clients
	end

	return { message = "welcome" }
end

function onDisconnection(client)
	DEBUG(client.protocol, " client ", client.address, " left")
end
