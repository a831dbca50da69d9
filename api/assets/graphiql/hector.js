// Hector's GraphiQL: everything is served by Hector itself (no CDN), queries and mutations go
// to /graphql over HTTP, subscriptions over a WebSocket (graphql-transport-ws) on the same
// path. The bearer token typed above the editor is kept for this browser tab only.
(function () {
  'use strict';
  var KEY = 'hector.token';
  var input = document.getElementById('hector-token');
  var state = document.getElementById('hector-token-state');
  input.value = sessionStorage.getItem(KEY) || '';
  var client = null;

  function token() {
    return input.value.trim();
  }
  function describe() {
    state.textContent = token() ? 'sent with every request' : 'none: sign in with the login mutation';
  }
  function resetSocket() {
    if (client) {
      client.dispose();
      client = null;
    }
  }
  // A new token asks for the schema again (introspection needs a signed-in caller), once
  // typing has paused.
  var pause = null;
  input.addEventListener('input', function () {
    sessionStorage.setItem(KEY, token());
    resetSocket();
    describe();
    clearTimeout(pause);
    pause = setTimeout(render, 300);
  });
  document.getElementById('hector-credential').addEventListener('submit', function (e) {
    e.preventDefault();
  });
  describe();

  function socket() {
    if (!client) {
      var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql';
      client = graphqlWs.createClient({
        url: url,
        lazy: true,
        connectionParams: function () {
          return token() ? { authorization: 'Bearer ' + token() } : {};
        },
      });
    }
    return client;
  }

  function isSubscription(params) {
    var doc = params.query || '';
    var name = params.operationName;
    var re = /(query|mutation|subscription)\s*([_A-Za-z][_0-9A-Za-z]*)?/g;
    var m;
    var first = null;
    while ((m = re.exec(doc)) !== null) {
      if (!first) first = m;
      if (name && m[2] === name) return m[1] === 'subscription';
    }
    return first !== null && first[1] === 'subscription';
  }

  function fetcher(params, opts) {
    if (isSubscription(params)) {
      return {
        subscribe: function (observer) {
          var sink = typeof observer === 'function' ? { next: observer } : observer;
          var dispose = socket().subscribe(params, {
            next: function (v) { sink.next && sink.next(v); },
            error: function (e) {
              var message = e && e.reason ? 'socket closed: ' + e.code + ' ' + e.reason
                : (Array.isArray(e) ? e.map(function (x) { return x.message; }).join('; ') : String(e));
              sink.error && sink.error(new Error(message));
            },
            complete: function () { sink.complete && sink.complete(); },
          });
          return { unsubscribe: dispose };
        },
      };
    }
    var headers = Object.assign(
      { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
      (opts && opts.headers) || {}
    );
    if (token() && !headers.authorization && !headers.Authorization) {
      headers.authorization = 'Bearer ' + token();
    }
    return fetch('/graphql', { method: 'POST', headers: headers, body: JSON.stringify(params) })
      .then(function (r) { return r.json(); });
  }

  var fromHash = new URLSearchParams(location.hash.slice(1));
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  var generation = 0;
  function render() {
    generation += 1;
    root.render(React.createElement(GraphiQL, {
      key: generation,
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      query: fromHash.get('query') || undefined,
      isHeadersEditorEnabled: true,
    }));
  }
  render();
})();
