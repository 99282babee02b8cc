<?php
/*
 * Shared setup for the pushbeat test harness around the Debian package
 * php-horde-activesync (Horde ActiveSync 2.41.x). Test-only code: it runs a
 * real Horde_ActiveSync server on loopback so the Go tests in
 * transport/eas can speak EAS to it.
 *
 * Configuration comes from the environment (set by the Go test helper):
 *   PUSHBEAT_EAS_DB            path of the SQLite state database (required)
 *   PUSHBEAT_EAS_LOG           path of the Horde ActiveSync log (optional)
 *   PUSHBEAT_EAS_CHANGES       directory the test writes injected changes to
 *   PUSHBEAT_EAS_HBMIN         heartbeat minimum, seconds (default 10)
 *   PUSHBEAT_EAS_HBMAX         heartbeat maximum, seconds (default 120)
 *   PUSHBEAT_EAS_WAIT          Ping poll granularity ("waitinterval"), seconds (default 1)
 *   PUSHBEAT_EAS_PASSWORD      the only password accepted (default: any)
 *   PUSHBEAT_EAS_PROVISION_USER  a user who must Provision first (HTTP 449)
 */

error_reporting(E_ALL & ~E_DEPRECATED);
ini_set('display_errors', '0');
ini_set('log_errors', '1');
set_include_path('/usr/share/php' . PATH_SEPARATOR . get_include_path());

spl_autoload_register(function ($class) {
    $file = '/usr/share/php/' . str_replace(array('_', '\\'), '/', $class) . '.php';
    if (is_file($file)) {
        require_once $file;
    }
});

// Horde_Exception_AuthenticationFailure ships with the full Horde groupware,
// not with the ActiveSync library that throws it.
if (!class_exists('Horde_Exception_AuthenticationFailure')) {
    class Horde_Exception_AuthenticationFailure extends Horde_Exception
    {
    }
}

require_once __DIR__ . '/PushbeatDriver.php';

function pushbeat_env_int($name, $default)
{
    $v = getenv($name);
    if ($v === false || $v === '' || !ctype_digit($v)) {
        return $default;
    }
    return (int)$v;
}

function pushbeat_db()
{
    $path = getenv('PUSHBEAT_EAS_DB');
    if (empty($path)) {
        throw new RuntimeException('PUSHBEAT_EAS_DB is not set');
    }
    return new Horde_Db_Adapter_Pdo_Sqlite(array('dbname' => $path));
}
