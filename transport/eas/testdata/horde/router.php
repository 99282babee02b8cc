<?php
/*
 * Router for `php -S 127.0.0.1:PORT router.php`: serves Horde ActiveSync at
 * /Microsoft-Server-ActiveSync the way Horde's RPC front end does, with the
 * state in SQLite (see setup.php) and the Pushbeat_Driver backend. Every
 * other path answers 404, which the Go helper uses as its readiness probe.
 * Run with PHP_CLI_SERVER_WORKERS > 1: a held Ping occupies a worker.
 */
require __DIR__ . '/bootstrap.php';

$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if ($path !== '/Microsoft-Server-ActiveSync') {
    http_response_code(404);
    header('Content-Type: text/plain');
    echo "not found\n";
    return true;
}

$db = pushbeat_db();
// A test makes Horde lose its sync cache (the device's folder list) by
// creating the file forget-cache in the changes directory: the next Sync
// deletes the cache before Horde reads it. Doing it from the test while a
// Ping is held would not do: the Ping writes its copy back when it ends.
$forget = getenv('PUSHBEAT_EAS_CHANGES') . '/forget-cache';
if (($_GET['Cmd'] ?? '') === 'Sync' && getenv('PUSHBEAT_EAS_CHANGES') !== false && @unlink($forget)) {
    // Keep the hierarchy's sync key (without it Horde answers 12), drop
    // the folders: a Sync then answers status 8 for each collection.
    foreach ($db->selectAll('SELECT cache_devid, cache_user, cache_data FROM horde_activesync_cache') as $row) {
        $cache = unserialize($row['cache_data']);
        $cache['folders'] = array();
        $cache['collections'] = array();
        $db->update('UPDATE horde_activesync_cache SET cache_data = ? WHERE cache_devid = ? AND cache_user = ?',
            array(serialize($cache), $row['cache_devid'], $row['cache_user']));
    }
    error_log('pushbeat harness: the sync cache forgot its folders');
}
$state = new Horde_ActiveSync_State_Sql(array('db' => $db));
$driver = new Pushbeat_Driver(array('state' => $state, 'ping' => array()));
$input = fopen('php://input', 'r');
$output = fopen('php://memory', 'w+');
$request = new Horde_Controller_Request_Http();
$server = new Horde_ActiveSync(
    $driver,
    new Horde_ActiveSync_Wbxml_Decoder($input),
    new Horde_ActiveSync_Wbxml_Encoder($output),
    $state,
    $request
);
$log = getenv('PUSHBEAT_EAS_LOG');
// Horde_ActiveSync dereferences its logger unconditionally: always set one
// (the factory falls back to a null handler when there is no path).
$server->setLogger(new Horde_ActiveSync_Log_Factory(array(
    'type' => 'onefile',
    'path' => empty($log) ? '/dev/null' : $log,
    'level' => 'META',
)));
$server->setSupportedVersion(Horde_ActiveSync::VERSION_FOURTEENONE);

$status = 200;
try {
    if ($_SERVER['REQUEST_METHOD'] === 'OPTIONS') {
        $result = $server->handleRequest('Options', null);
    } elseif ($_SERVER['REQUEST_METHOD'] === 'POST') {
        $result = $server->handleRequest(null, null);
    } else {
        $status = 405;
        header('Allow: OPTIONS,POST');
        $result = true;
    }
    if ($result === false) {
        $status = 500;
    } elseif (is_string($result)) {
        header('Content-Type: ' . $result);
    }
} catch (Horde_Exception_AuthenticationFailure $e) {
    $status = 401;
    header('WWW-Authenticate: Basic realm="Horde ActiveSync"');
} catch (Horde_ActiveSync_Exception_InvalidRequest $e) {
    $status = 400;
} catch (Horde_ActiveSync_PermissionDenied $e) {
    $status = 403;
} catch (Throwable $e) {
    error_log('pushbeat harness: ' . get_class($e) . ': ' . $e->getMessage() . "\n" . $e->getTraceAsString());
    $status = 500;
}
if ($status !== 200) {
    http_response_code($status);
}
rewind($output);
fpassthru($output);
return true;
