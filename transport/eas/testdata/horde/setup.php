<?php
/*
 * Creates the Horde ActiveSync state schema in a fresh SQLite database by
 * running the migrations shipped with the package. Usage: php setup.php
 * (with PUSHBEAT_EAS_DB set). Run once before starting router.php.
 */
require __DIR__ . '/bootstrap.php';

$db = pushbeat_db();
// Several server workers share the database: WAL lets readers proceed
// while one writer holds the lock.
$db->execute('PRAGMA journal_mode=WAL');
$migrator = new Horde_Db_Migration_Migrator($db, null, array(
    'migrationsPath' => '/usr/share/php/data/Horde_ActiveSync/migration',
    'schemaTableName' => 'horde_activesync_schema_info',
));
$migrator->up();
echo "schema version ", $migrator->getCurrentVersion(), "\n";
