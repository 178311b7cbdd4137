import { println, UsageError, type CliIo } from './io.js';
import { startCommand } from './start.js';
import { historyCommand } from './history-command.js';
import { doctorCommand } from './doctor-command.js';
import { brokerCommand } from './broker-command.js';
import { profilesCommand, secretsCommand, sqlCommand, statusCommand } from './small-commands.js';

const HELP = `rolecall — sign in to PostgreSQL with your directory (AD/LDAP) account

Usage:
  rolecall start [--config FILE] [--profile ID]... [--json]   run the proxies until Ctrl-C
  rolecall status [--config FILE] [--json]                    what a running 'start' reports
  rolecall profiles validate FILE | list [--config FILE]
  rolecall profiles import --broker URL [--ca FILE] [--login NAME] [--database ID]... [--port-base N] [--replace]
                                                              broker profiles from the team broker's catalog
  rolecall doctor [--config FILE] [--profile ID]... [--login NAME]
                                                              test each profile's directory (or broker) and database
  rolecall secrets set|delete|has PROFILE ldap-bind|sync      OS keychain
  rolecall sql install | uninstall                            print the database scripts
  rolecall history [--json|--csv] [--since 24h] [--login L] [--outcome denied] [--profile ID]
  rolecall demo [--port 5050] [--json] [--direct]             everything on this machine, to try it (team shape; --direct: without a broker)
  rolecall broker --config broker.json [--check]             the team broker (HTTPS API; README, "Team setup")

Config: $ROLECALL_CONFIG or the per-user config file (see README).`;

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [command, ...args] = argv;
  try {
    switch (command) {
      case 'start':
        return await startCommand(args, io);
      case 'status':
        return await statusCommand(args, io);
      case 'profiles':
        return await profilesCommand(args, io);
      case 'doctor':
        return await doctorCommand(args, io);
      case 'secrets':
        return await secretsCommand(args, io);
      case 'sql':
        return await sqlCommand(args, io);
      case 'history':
        return await historyCommand(args, io);
      case 'broker':
        return await brokerCommand(args, io);
      case 'demo': {
        const { demoCommand } = await import('../demo/demo-command.js');
        return await demoCommand(args, io);
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        println(io.stdout, HELP);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"\n\n${HELP}`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS'))) {
      println(io.stderr, `rolecall: ${e.message}`);
      return 2;
    }
    println(io.stderr, `rolecall: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}
