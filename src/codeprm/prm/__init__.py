"""codeprm.prm"""
